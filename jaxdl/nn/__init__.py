"""Layers by family, each a `Layer(init, apply, name)`; activation layers and the combinators are
re-exported here so `from jaxdl.nn import Dense, Relu, serial` is all a model needs."""

from jaxdl.activations import (
    Elu, LeakyRelu, Maxout, PReLU, Relu, RReLU, Sigmoid, Softmax, Softplus, Step, Tanh)
from jaxdl.core import Layer, count_params, parallel, residual, serial
from jaxdl.nn.conv import Conv1D, Conv2D, conv_output_size
from jaxdl.nn.dense import Dense, Perceptron, perceptron_epoch
from jaxdl.nn.dropout import Dropout
from jaxdl.nn.normalization import BatchNorm, GroupNorm, LayerNorm, LocalResponseNorm, WeightNorm
from jaxdl.nn.pooling import AvgPool2D, AvgPool1D, MaxPool2D, MaxPool1D
from jaxdl.nn.reshape import Flatten, Reshape

__all__ = [
    "Layer", "serial", "parallel", "residual", "count_params",
    "Dense", "Perceptron", "perceptron_epoch", "Conv2D", "Conv1D", "conv_output_size",
    "MaxPool2D", "AvgPool2D", "MaxPool1D", "AvgPool1D", "Flatten", "Reshape", "Dropout",
    "BatchNorm", "GroupNorm", "LayerNorm", "WeightNorm", "LocalResponseNorm",
    "Sigmoid", "Tanh", "Relu", "LeakyRelu", "Softplus", "Softmax", "Elu", "Step", "PReLU", "RReLU",
    "Maxout",
]
