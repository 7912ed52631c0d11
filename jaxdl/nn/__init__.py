"""Layers by family, each a `Layer(init, apply, name)`; activation layers and the combinators are
re-exported here so `from jaxdl.nn import Dense, Relu, serial` is all a model needs."""

from jaxdl.activations import (
    Elu, LeakyRelu, Maxout, PReLU, Relu, RReLU, Sigmoid, Softmax, Softplus, Step, Tanh)
from jaxdl.core import Concatenate, Layer, branches, count_params, parallel, residual, serial
from jaxdl.nn.attention import MultiHeadAttention, scaled_dot_product_attention
from jaxdl.nn.conv import Conv1D, Conv2D, conv_output_size
from jaxdl.nn.dense import Dense, Perceptron, perceptron_epoch
from jaxdl.nn.dropout import Dropout
from jaxdl.nn.embedding import Embedding
from jaxdl.nn.normalization import BatchNorm, GroupNorm, LayerNorm, LocalResponseNorm, WeightNorm
from jaxdl.nn.pooling import (
    AvgPool2D, AvgPool1D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D,
    MaxPool2D, MaxPool1D)
from jaxdl.nn.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from jaxdl.nn.reshape import (
    Cropping1D, Cropping2D, Flatten, Reshape, ZeroPadding1D, ZeroPadding2D)
from jaxdl.nn.upsampling import Conv1DTranspose, Conv2DTranspose, UpSampling1D, UpSampling2D

__all__ = [
    "Layer", "serial", "parallel", "branches", "residual", "Concatenate", "count_params",
    "Dense", "Perceptron", "perceptron_epoch", "Conv2D", "Conv1D", "conv_output_size",
    "Conv2DTranspose", "Conv1DTranspose", "UpSampling2D", "UpSampling1D",
    "MaxPool2D", "AvgPool2D", "MaxPool1D", "AvgPool1D", "GlobalMaxPool2D", "GlobalAvgPool2D",
    "GlobalMaxPool1D", "GlobalAvgPool1D", "Flatten", "Reshape", "ZeroPadding2D", "ZeroPadding1D",
    "Cropping2D", "Cropping1D", "Dropout",
    "Embedding", "SimpleRNN", "GRU", "LSTM", "Bidirectional", "MultiHeadAttention",
    "scaled_dot_product_attention",
    "BatchNorm", "GroupNorm", "LayerNorm", "WeightNorm", "LocalResponseNorm",
    "Sigmoid", "Tanh", "Relu", "LeakyRelu", "Softplus", "Softmax", "Elu", "Step", "PReLU", "RReLU",
    "Maxout",
]
