"""Bad input fails loudly and early: one table, one row per bad input, across every jaxdl module.

Each row calls jaxdl with one bad argument and names the exception it must raise (ValueError or
TypeError) and the pieces its message must contain: the owner (layer or function), the parameter
and the bad value. Every row also runs against a sentinel: the losses of the fit / sweep rows and
the `train_fn` of the search rows record their calls, and none may have run when the error comes,
so the input was rejected before anything was traced, compiled or trained.

`python tests/reliability/test_bad_inputs.py` prints the table as markdown with the real messages
(docs/errors.md).
"""

from __future__ import annotations

import re
import tempfile
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import checkpoint, optim, schedules
from jaxdl import initializers as inits
from jaxdl import losses as L
from jaxdl.activations import LeakyRelu, Maxout, PReLU, Relu, RReLU, Softmax
from jaxdl.core import Concatenate, Layer, branches, serial
from jaxdl.data import augment, batch_indices, preprocess, spirals, split
from jaxdl.nn import (
    BatchNorm, Conv1D, Conv2D, Conv2DTranspose, Cropping2D, Dense, Dropout, Flatten,
    GlobalAvgPool2D, GroupNorm, MaxPool2D, Reshape, UpSampling2D, ZeroPadding2D)
from jaxdl.nn import (
    GRU, LSTM, Bidirectional, Embedding, MultiHeadAttention, SimpleRNN,
    scaled_dot_product_attention)
from jaxdl.sweep import grid_search, log_uniform, random_search, vmap_fit
from jaxdl.train import ReduceLROnPlateau, fit, init_state, predict

KEY = jax.random.key(0)
X = np.random.default_rng(0).random((32, 8, 8, 1), dtype=np.float32)  # 32 tiny images
Y = (np.arange(32) % 10).astype(np.int32)  # 10 classes
MLP = serial(Flatten(), Dense(10))
CNN = serial(Conv2D(2, 3), Flatten(), Dense(10))
REG = serial(Flatten(), Dense(1))
OPT = optim.sgd(0.1)
CALLS: list[str] = []  # the sentinel: whatever computes appends here


def _ce(outputs, labels):
    CALLS.append("loss")
    return L.softmax_cross_entropy(outputs, labels)


def _mse(outputs, targets):
    CALLS.append("loss")
    return L.mse(outputs, targets)


def _train_fn(candidates):
    CALLS.append("train_fn")
    return np.zeros(len(next(iter(candidates.values())))), lambda i: 0.0


def _fit(train=(X, Y), model=MLP, loss=_ce, **kw):
    return fit(model, loss, OPT, train, **{"epochs": 1, "batch_size": 8, "key": KEY,
                                           "verbose": 0, **kw})


def _sweep(model=MLP, **kw):
    args = {"hparams": {"learning_rate": [0.1, 0.2]}, "keys": jax.random.split(KEY, 2),
            "epochs": 1, "batch_size": 8, **kw}
    return vmap_fit(model, _ce, lambda learning_rate: optim.sgd(learning_rate), (X, Y), **args)


def _with(x, index, value):
    x = np.array(x)
    x.flat[index] = value
    return x


def _restore(like):
    with tempfile.TemporaryDirectory() as d:
        checkpoint.save(d, {"params": {"w": jnp.ones(3)}}, step=0)
        return checkpoint.restore(d, like)


def _save(**kw):
    with tempfile.TemporaryDirectory() as d:
        return checkpoint.save(d, {"w": jnp.ones(3)}, **{"step": 0, **kw})


def _resumable(opt=optim.momentum(0.1)):
    """A TrainState of MLP after 2 epochs of 4 steps (32 examples, batches of 8)."""
    ts = init_state(MLP, opt, (8, 8, 1), KEY)
    return ts._replace(step=jnp.asarray(8, jnp.int32))


_NO_STATE = Layer(lambda k, shape: ({}, {}, shape),
                  lambda p, s, x, key=None, train=False: x, "no_state")
_dense, _conv = Dense(3), Conv2D(2, 3)
_P_DENSE = _dense.init(KEY, (4,))[0]
_P_CONV = _conv.init(KEY, (6, 6, 1))[0]
_gru, _emb, _mha = GRU(4), Embedding(10, 4), MultiHeadAttention(2)
_P_GRU = _gru.init(KEY, (5, 3))[0]
_P_EMB = _emb.init(KEY, (6,))[0]
_P_MHA = _mha.init(KEY, (5, 4))[0]
_IDS = np.arange(12, dtype=np.int32).reshape(2, 6) % 10
_SEQ = jnp.ones((2, 5, 3))


class Case(NamedTuple):
    id: str
    area: str
    bad: str  # the bad input, in words (the table of docs/errors.md)
    call: Callable[[], Any]
    error: type
    needles: tuple[str, ...]  # owner, parameter, bad value (and more) the message must contain


def case(id, area, bad, call, error, *needles):
    return Case(id, area, bad, call, error, needles)


V, T = ValueError, TypeError
CASES = [
    # --- layers -----------------------------------------------------------------------------
    case("conv2d_rank2_input_shape", "layers", "Conv2D on a rank-2 input shape",
         lambda: Conv2D(4, 3).init(KEY, (8, 8)), V, "Conv2D", "input_shape", "(8, 8)"),
    case("conv2d_zero_strides", "layers", "Conv2D strides 0",
         lambda: Conv2D(4, 3, strides=0), V, "Conv2D", "strides", "got 0"),
    case("conv2d_kernel_larger_than_input", "layers", "a 5x5 kernel on a 3x3 input",
         lambda: Conv2D(4, 5).init(KEY, (3, 3, 1)), V, "Conv2D", "kernel_size", "got 5"),
    case("conv2d_unknown_padding", "layers", "padding 'FULL'",
         lambda: Conv2D(4, 3, padding="FULL"), V, "Conv2D", "padding", "'FULL'"),
    case("conv2d_integer_images", "layers", "uint8 images to Conv2D.apply",
         lambda: _conv.apply(_P_CONV, {}, jnp.ones((2, 6, 6, 1), jnp.uint8)), T,
         "Conv2D", "x", "uint8", "x.astype(jnp.float32)"),
    case("conv2d_wrong_channels", "layers", "3 channels to a Conv2D built for 1",
         lambda: _conv.apply(_P_CONV, {}, jnp.ones((2, 6, 6, 3))), V,
         "Conv2D", "x", "C = 1", "(2, 6, 6, 3)"),
    case("conv1d_empty_axis", "layers", "Conv1D on an input shape with a 0-size axis",
         lambda: Conv1D(2, 3).init(KEY, (0, 1)), V, "Conv1D", "input_shape", "(0, 1)"),
    case("dense_zero_features", "layers", "Dense(0)",
         lambda: Dense(0), V, "Dense", "features", "got 0"),
    case("dense_float_features", "layers", "Dense(2.5)",
         lambda: Dense(2.5), T, "Dense", "features", "2.5"),
    case("dense_wrong_feature_size", "layers", "5 features to a Dense built for 4",
         lambda: _dense.apply(_P_DENSE, {}, jnp.ones((2, 5))), V,
         "Dense", "x", "4 features", "(2, 5)"),
    case("dense_empty_input_shape", "layers", "Dense on input shape (0,)",
         lambda: Dense(3).init(KEY, (0,)), V, "Dense", "input_shape", "(0,)"),
    case("dropout_rate_one", "layers", "Dropout rate 1.0 (drops everything)",
         lambda: Dropout(1.0), V, "Dropout", "rate", "1.0"),
    case("dropout_rate_negative", "layers", "Dropout rate -0.1",
         lambda: Dropout(-0.1), V, "Dropout", "rate", "-0.1"),
    case("dropout_train_without_key", "layers", "Dropout in train mode without a key",
         lambda: Dropout(0.5).apply({}, {}, jnp.ones((2, 3)), train=True), V,
         "Dropout", "key", "None", "train=True"),
    case("rrelu_train_without_key", "layers", "RReLU in train mode without a key",
         lambda: RReLU().apply({}, {}, jnp.ones((2, 3)), train=True), V, "RReLU", "key", "None"),
    case("batchnorm_momentum_above_one", "layers", "BatchNorm momentum 1.5",
         lambda: BatchNorm(momentum=1.5), V, "BatchNorm", "momentum", "1.5"),
    case("batchnorm_zero_eps", "layers", "BatchNorm eps 0",
         lambda: BatchNorm(eps=0.0), V, "BatchNorm", "eps", "0.0"),
    case("groupnorm_groups_not_dividing", "layers", "3 groups of 8 channels",
         lambda: GroupNorm(3).init(KEY, (4, 4, 8)), V, "GroupNorm", "groups", "groups=3"),
    case("maxpool_zero_window", "layers", "MaxPool2D window 0",
         lambda: MaxPool2D(0), V, "MaxPool2D", "window", "got 0"),
    case("maxpool_rank2_input_shape", "layers", "MaxPool2D on a rank-2 input shape",
         lambda: MaxPool2D(2).init(KEY, (8, 8)), V, "MaxPool2D", "input_shape", "(8, 8)"),
    case("reshape_wrong_size", "layers", "Reshape (3, 5) of 16 elements",
         lambda: Reshape((3, 5)).init(KEY, (4, 4)), V, "Reshape", "shape", "(3, 5)"),
    case("global_pool_rank2_input_shape", "layers", "GlobalAvgPool2D on a rank-2 input shape",
         lambda: GlobalAvgPool2D().init(KEY, (8, 8)), V, "GlobalAvgPool2D", "input_shape",
         "(8, 8)"),
    case("conv_transpose_zero_strides", "layers", "Conv2DTranspose strides 0",
         lambda: Conv2DTranspose(4, 3, strides=0), V, "Conv2DTranspose", "strides", "got 0"),
    case("conv_transpose_padding_above_kernel", "layers", "Conv2DTranspose padding 3, kernel 3",
         lambda: Conv2DTranspose(4, 3, strides=2, padding=3), V,
         "Conv2DTranspose", "padding", "padding=3", "kernel_size - 1"),
    case("conv_transpose_rank2_input_shape", "layers", "Conv2DTranspose on a rank-2 input shape",
         lambda: Conv2DTranspose(4, 3).init(KEY, (8, 8)), V,
         "Conv2DTranspose", "input_shape", "(8, 8)"),
    case("upsampling_unknown_method", "layers", "UpSampling2D method 'bicubic'",
         lambda: UpSampling2D(2, "bicubic"), V, "UpSampling2D", "method", "'bicubic'"),
    case("upsampling_zero_size", "layers", "UpSampling2D size 0",
         lambda: UpSampling2D(0), V, "UpSampling2D", "size", "got 0"),
    case("zero_padding_negative", "layers", "ZeroPadding2D padding -1",
         lambda: ZeroPadding2D(-1), V, "ZeroPadding2D", "padding", "got -1"),
    case("cropping_more_than_the_size", "layers", "Cropping2D of 2 + 2 rows from 4",
         lambda: Cropping2D((2, 0)).init(KEY, (4, 4, 1)), V,
         "Cropping2D", "cropping", "(2, 2)", "size 4"),
    case("concatenate_shapes_disagree", "layers", "Concatenate of (4, 3) and (5, 2) on axis -1",
         lambda: Concatenate(-1).init(KEY, ((4, 3), (5, 2))), V,
         "Concatenate", "axis=-1", "((4, 3), (5, 2))"),
    case("branches_wrong_number_of_inputs", "layers", "branches of 2 layers given one input",
         lambda: branches(Dense(2), Dense(3)).init(KEY, (4,)), V,
         "branches", "input_shape", "2 per-example shapes", "(4,)"),
    case("leaky_relu_negative_slope", "layers", "LeakyRelu slope -0.1",
         lambda: LeakyRelu(-0.1), V, "LeakyRelu", "negative_slope", "-0.1"),
    case("maxout_zero_pieces", "layers", "Maxout with 0 pieces",
         lambda: Maxout(4, 0), V, "Maxout", "pieces", "got 0"),
    case("prelu_string_init", "layers", "PReLU init given as a string",
         lambda: PReLU("0.25"), T, "PReLU", "init", "'0.25'"),
    case("softmax_axis_out_of_range", "layers", "Softmax axis 3 of a rank-1 input",
         lambda: Softmax(axis=3).init(KEY, (4,)), V, "Softmax", "axis 3", "(4,)"),
    case("serial_uncalled_constructor", "layers", "serial(Dense(2), Relu) (not Relu())",
         lambda: serial(Dense(2), Relu), T, "serial", "argument 1", "function Relu", "Relu()"),
    case("serial_zero_size_input", "layers", "serial on input shape (0, 3)",
         lambda: serial(Dense(2)).init(KEY, (0, 3)), V, "serial", "input_shape", "(0, 3)"),
    case("rnn_rank2_x", "layers", "x without a time axis to GRU",
         lambda: _gru.apply(_P_GRU, {}, jnp.ones((2, 3))), V,
         "GRU", "x", "(batch, time, features)", "(2, 3)"),
    case("rnn_rank3_input_shape", "layers", "SimpleRNN on input shape (5, 3, 2)",
         lambda: SimpleRNN(4).init(KEY, (5, 3, 2)), V, "SimpleRNN", "input_shape", "(5, 3, 2)"),
    case("rnn_zero_length_input_shape", "layers", "GRU on a sequence length of 0 (init)",
         lambda: GRU(4).init(KEY, (0, 3)), V, "GRU", "input_shape", "sequence length", "(0, 3)"),
    case("rnn_zero_length_x", "layers", "x of 0 time steps to LSTM",
         lambda: LSTM(4).apply(LSTM(4).init(KEY, (5, 3))[0], {}, jnp.ones((2, 0, 3))), V,
         "LSTM", "x", "sequence length", "(2, 0, 3)"),
    case("rnn_mask_wrong_shape", "layers", "a (2, 4) mask for x of 5 steps",
         lambda: _gru.apply(_P_GRU, {}, (_SEQ, jnp.ones((2, 4), bool))), V,
         "GRU", "mask", "(2, 5)", "(2, 4)"),
    case("rnn_float_mask", "layers", "a float mask to GRU",
         lambda: _gru.apply(_P_GRU, {}, (_SEQ, jnp.ones((2, 5)))), T, "GRU", "mask", "float32"),
    case("bidirectional_uncalled_constructor", "layers", "Bidirectional(GRU) (not GRU(8))",
         lambda: Bidirectional(GRU), T, "Bidirectional", "layer", "function GRU", "GRU(8)"),
    case("embedding_id_out_of_range", "layers", "id 10 for an Embedding of 10 ids",
         lambda: _emb.apply(_P_EMB, {}, jnp.asarray(_with(_IDS, 7, 10))), V,
         "Embedding", "ids", "[0, 10)", "got 10", "(1, 1)"),
    case("embedding_negative_id", "layers", "id -1 (no wrap-around)",
         lambda: _emb.apply(_P_EMB, {}, jnp.asarray(_with(_IDS, 0, -1))), V,
         "Embedding", "ids", "got -1", "(0, 0)"),
    case("embedding_float_ids", "layers", "float ids to Embedding",
         lambda: _emb.apply(_P_EMB, {}, jnp.asarray(_IDS, jnp.float32)), T,
         "Embedding", "ids", "float32", "astype"),
    case("embedding_zero_ids", "layers", "Embedding(0, 4)",
         lambda: Embedding(0, 4), V, "Embedding", "num_embeddings", "got 0"),
    case("attention_heads_not_dividing", "layers", "3 heads for a model width of 8",
         lambda: MultiHeadAttention(3).init(KEY, (5, 8)), V,
         "MultiHeadAttention", "num_heads", "num_heads=3", "D = 8"),
    case("attention_zero_heads", "layers", "MultiHeadAttention(0)",
         lambda: MultiHeadAttention(0), V, "MultiHeadAttention", "num_heads", "got 0"),
    case("attention_rank2_x", "layers", "x without a time axis to MultiHeadAttention",
         lambda: _mha.apply(_P_MHA, {}, jnp.ones((2, 4))), V,
         "MultiHeadAttention", "x", "(2, 4)"),
    case("attention_mask_wrong_shape", "layers", "a (2, 3) padding mask for 5 tokens",
         lambda: _mha.apply(_P_MHA, {}, (jnp.ones((2, 5, 4)), jnp.ones((2, 3), bool))), V,
         "MultiHeadAttention", "mask", "(2, 5)", "(2, 3)"),
    case("attention_key_size_mismatch", "layers", "keys of size 6 for queries of size 8",
         lambda: scaled_dot_product_attention(jnp.ones((2, 4, 8)), jnp.ones((2, 4, 6)),
                                              jnp.ones((2, 4, 6))), V,
         "scaled_dot_product_attention", "k", "d_k = 8", "(2, 4, 6)"),
    case("attention_mask_not_broadcastable", "layers", "a (4, 3) mask for 4 x 4 logits",
         lambda: scaled_dot_product_attention(*(jnp.ones((2, 4, 8)),) * 3,
                                              jnp.ones((4, 3), bool)), V,
         "scaled_dot_product_attention", "mask", "(2, 4, 4)", "(4, 3)"),
    # --- initializers -----------------------------------------------------------------------
    case("variance_scaling_zero_scale", "initializers", "variance_scaling scale 0",
         lambda: inits.variance_scaling(0.0, "fan_in", "normal"), V,
         "variance_scaling", "scale", "0.0"),
    case("variance_scaling_unknown_mode", "initializers", "mode 'fan_sum'",
         lambda: inits.variance_scaling(1.0, "fan_sum", "normal"), V,
         "variance_scaling", "mode", "'fan_sum'"),
    case("lecun_zero_fan_in", "initializers", "a kernel with fan_in 0",
         lambda: inits.lecun_normal()(KEY, (0, 3)), V, "variance_scaling", "fan_in", "(0, 3)"),
    case("normal_negative_stddev", "initializers", "normal stddev -1",
         lambda: inits.normal(-1.0), V, "normal", "stddev", "-1.0"),
    case("sparse_more_connections_than_inputs", "initializers", "10 connections of 4 inputs",
         lambda: inits.sparse(10)(KEY, (4, 3)), V, "sparse", "connections", "got 10"),
    # --- losses -----------------------------------------------------------------------------
    case("softmax_ce_float_labels", "losses", "float labels of shape (batch,)",
         lambda: L.softmax_cross_entropy(jnp.ones((4, 3)), jnp.ones((4,))), V,
         "softmax_cross_entropy", "labels", "float32"),
    case("softmax_ce_label_out_of_range", "losses", "label 3 with 3 classes",
         lambda: L.softmax_cross_entropy(jnp.ones((4, 3)), jnp.arange(4)), V,
         "softmax_cross_entropy", "labels", "[0, 3)", "[0, 3]"),
    case("softmax_ce_empty_batch", "losses", "an empty batch with reduction='mean'",
         lambda: L.softmax_cross_entropy(jnp.ones((0, 3)), jnp.zeros((0,), jnp.int32)), V,
         "softmax_cross_entropy", "logits", "(0, 3)"),
    case("mse_shape_mismatch", "losses", "targets (4,) for outputs (4, 1)",
         lambda: L.mse(jnp.ones((4, 1)), jnp.ones((4,))), V, "mse", "targets", "(4,)"),
    case("mse_unknown_reduction", "losses", "reduction 'avg'",
         lambda: L.mse(jnp.ones((4, 1)), jnp.ones((4, 1)), reduction="avg"), V,
         "mse", "reduction", "'avg'"),
    case("bce_eps_too_large", "losses", "binary_cross_entropy eps 0.6",
         lambda: L.binary_cross_entropy(jnp.ones((2, 1)) / 2, jnp.ones((2, 1)), eps=0.6), V,
         "binary_cross_entropy", "eps", "0.6"),
    case("center_loss_float_labels", "losses", "float labels to center_loss",
         lambda: L.center_loss(jnp.ones((4, 2)), jnp.ones((4,)), jnp.ones((3, 2))), V,
         "center_loss", "labels", "float32"),
    case("l2_penalty_negative_lambda", "losses", "l2_penalty lam -1",
         lambda: L.l2_penalty({"w": jnp.ones(2)}, -1.0, 10), V, "l2_penalty", "lam", "-1.0"),
    # --- optimizers -------------------------------------------------------------------------
    case("sgd_negative_learning_rate", "optimizers", "learning rate -0.1",
         lambda: optim.sgd(-0.1), V, "sgd", "learning_rate", "-0.1"),
    case("sgd_string_learning_rate", "optimizers", "learning rate '0.1' (a string)",
         lambda: optim.sgd("0.1"), T, "sgd", "learning_rate", "'0.1'"),
    case("sgd_momentum_above_one", "optimizers", "momentum 1.5",
         lambda: optim.sgd(0.1, momentum=1.5), V, "sgd", "momentum", "1.5"),
    case("adam_b1_one", "optimizers", "adam b1 = 1",
         lambda: optim.adam(1e-3, b1=1.0), V, "adam:", "b1", "1.0"),
    case("adam_negative_eps", "optimizers", "adam eps < 0",
         lambda: optim.adam(1e-3, eps=-1e-8), V, "adam:", "eps", "-1e-08"),
    case("rmsprop_decay_above_one", "optimizers", "rmsprop decay 1.5",
         lambda: optim.rmsprop(1e-3, decay=1.5), V, "rmsprop:", "decay", "1.5"),
    case("rprop_eta_plus_below_one", "optimizers", "rprop eta_plus 0.9",
         lambda: optim.rprop(0.1, eta_plus=0.9), V, "rprop:", "eta_plus", "0.9"),
    case("sgd_negative_momentum", "optimizers", "sgd momentum -0.5",
         lambda: optim.sgd(0.1, momentum=-0.5), V, "sgd:", "momentum", "-0.5"),
    case("momentum_beta_one", "optimizers", "momentum beta 1.0",
         lambda: optim.momentum(0.1, beta=1.0), V, "momentum:", "beta", "1.0"),
    case("clip_by_global_norm_negative", "optimizers", "max_norm -1",
         lambda: optim.clip_by_global_norm(-1.0), V, "clip_by_global_norm", "max_norm", "-1.0"),
    case("chain_uncalled_constructor", "optimizers", "chain(adam) (not adam(lr))",
         lambda: optim.chain(optim.adam), T, "chain", "argument 0", "function adam"),
    case("adamw_update_without_params", "optimizers", "adamw update without params",
         lambda: optim.adamw(1e-3).update({"w": jnp.ones(2)},
                                          optim.adamw(1e-3).init({"w": jnp.ones(2)})), V,
         "add_decayed_weights", "params", "None"),
    # --- schedules --------------------------------------------------------------------------
    case("piecewise_unsorted_boundaries", "schedules", "boundaries [10, 5]",
         lambda: schedules.piecewise_constant([10, 5], [1.0, 0.5, 0.1]), V,
         "piecewise_constant", "boundaries", "[10, 5]"),
    case("piecewise_values_length", "schedules", "2 values for 2 boundaries",
         lambda: schedules.piecewise_constant([5, 10], [1.0, 0.5]), V,
         "piecewise_constant", "values", "= 3", "[1.0, 0.5]"),
    case("exponential_decay_zero_steps", "schedules", "decay_steps 0",
         lambda: schedules.exponential_decay(0.1, 0, 0.5), V,
         "exponential_decay", "decay_steps", "got 0"),
    case("cosine_decay_alpha_above_one", "schedules", "cosine_decay alpha 1.5",
         lambda: schedules.cosine_decay(0.1, 100, alpha=1.5), V, "cosine_decay", "alpha", "1.5"),
    case("restarts_t_mul_below_one", "schedules", "cosine_decay_restarts t_mul 0.5",
         lambda: schedules.cosine_decay_restarts(0.1, 10, t_mul=0.5), V,
         "cosine_decay_restarts", "t_mul", "0.5"),
    case("warmup_of_a_number", "schedules", "warmup(0.1, 10) (a number, not a schedule)",
         lambda: schedules.warmup(0.1, 10), T, "warmup", "schedule", "0.1"),
    # --- data -------------------------------------------------------------------------------
    case("batch_larger_than_data", "data", "batch_indices batch 20 of 10 examples",
         lambda: batch_indices(KEY, 10, 20), V, "batch_indices", "batch_size", "20"),
    case("split_fractions_sum_to_one", "data", "split val 0.6 + test 0.5",
         lambda: split(X, Y, val=0.6, test=0.5, key=KEY), V, "split", "val + test", "0.6"),
    case("split_mismatched_xy", "data", "split x of 32 and y of 31",
         lambda: split(X, Y[:31], key=KEY), V, "split", "x and y", "32 and 31"),
    case("minmax_inverted_range", "data", "fit_minmax feature_range (1, 0)",
         lambda: preprocess.fit_minmax(X, feature_range=(1, 0)), V,
         "fit_minmax", "feature_range", "(1, 0)"),
    case("zscore_nan", "data", "a NaN in x_train",
         lambda: preprocess.fit_zscore(_with(X, 5, np.nan)), V,
         "fit_zscore", "x_train", "1 NaN/inf"),
    case("zscore_empty", "data", "an empty x_train",
         lambda: preprocess.fit_zscore(X[:0]), V, "fit_zscore", "x_train", "(0, 8, 8, 1)"),
    case("log_scaling_negative", "data", "fit_log of negative data",
         lambda: preprocess.fit_log(X - 2.0), V, "fit_log", "x_train", "non-negative"),
    case("rotate_integer_image", "data", "an integer image to rotate",
         lambda: augment.rotate(KEY, jnp.ones((8, 8, 1), jnp.int32)), T, "rotate", "x", "int32"),
    case("flip_probability_above_one", "data", "flip p 1.5",
         lambda: augment.flip_horizontal(KEY, X[0], p=1.5), V, "flip_horizontal", "p", "1.5"),
    case("flip_given_a_batch", "data", "a batch to a per-example augmentation",
         lambda: augment.flip_horizontal(KEY, X[:2]), V,
         "flip_horizontal", "x", "(2, 8, 8, 1)", "jax.vmap"),
    case("random_crop_float_padding", "data", "random_crop padding 2.5",
         lambda: augment.random_crop(KEY, X[0], padding=2.5), T, "random_crop", "padding", "2.5"),
    case("shift_float_max_shift", "data", "shift max_shift 1.5 pixels",
         lambda: augment.shift(KEY, X[0], max_shift=1.5), T, "shift", "max_shift", "1.5"),
    case("spirals_one_class", "data", "spirals with 1 class",
         lambda: spirals(10, 1, 0.1, KEY), V, "spirals", "classes", "got 1"),
    # --- fit --------------------------------------------------------------------------------
    case("fit_mismatched_xy", "fit", "x of 32 examples, y of 31",
         lambda: _fit(train=(X, Y[:31])), V, "fit", "train x and y", "32", "31"),
    case("fit_empty_data", "fit", "0 examples",
         lambda: _fit(train=(X[:0], Y[:0])), V, "fit", "train data is empty", "(0, 8, 8, 1)"),
    case("fit_train_not_a_pair", "fit", "train=x (no labels)",
         lambda: _fit(train=X), T, "fit", "train", "(x, y) pair", "(32, 8, 8, 1)"),
    case("fit_zero_batch_size", "fit", "batch_size 0",
         lambda: _fit(batch_size=0), V, "fit", "batch_size", "got 0"),
    case("fit_float_batch_size", "fit", "batch_size 8.0",
         lambda: _fit(batch_size=8.0), T, "fit", "batch_size", "8.0"),
    case("fit_batch_larger_than_data", "fit", "batch_size 64 of 32 examples",
         lambda: _fit(batch_size=64), V, "fit", "batch_size", "32", "got 64"),
    case("fit_zero_epochs", "fit", "epochs 0",
         lambda: _fit(epochs=0), V, "fit", "epochs", "got 0"),
    case("fit_key_not_a_key", "fit", "key=0 (an int)",
         lambda: _fit(key=0), T, "fit", "key", "got 0", "jax.random.key(0)"),
    case("fit_labels_out_of_range", "fit", "label 10 for 10 outputs",
         lambda: _fit(train=(X, _with(Y, 3, 10))), V, "fit", "labels y", "[0, 10)", "max 10"),
    case("fit_nan_in_x", "fit", "a NaN in x",
         lambda: _fit(train=(_with(X, 7, np.nan), Y)), V, "fit", "train x", "1 NaN"),
    case("fit_inf_in_targets", "fit", "an inf in float targets",
         lambda: _fit(model=REG, loss=_mse,
                      train=(X, _with(np.ones((32, 1), np.float32), 2, np.inf))),
         V, "fit", "train y", "1 inf"),
    case("fit_float_labels_for_classes", "fit", "float labels for a 10-class model",
         lambda: _fit(train=(X, Y.astype(np.float32))), T,
         "fit", "train y", "integer class labels", "float32", "(32,)"),
    case("fit_integer_images", "fit", "uint8 images to a conv model",
         lambda: _fit(model=CNN, train=((X * 255).astype(np.uint8), Y)), T,
         "fit", "train x", "uint8", "Conv2D"),
    case("fit_rank3_x_to_conv", "fit", "x without a channel axis to a conv model",
         lambda: _fit(model=CNN, train=(X[..., 0], Y)), V,
         "fit", "train x", "(32, 8, 8)", "Conv2D", "input_shape"),
    case("fit_val_shape_mismatch", "fit", "val x of another per-example shape",
         lambda: _fit(val=(X.reshape(32, 64), Y)), V, "fit", "val x", "(8, 8, 1)", "(32, 64)"),
    case("fit_val_labels_out_of_range", "fit", "val label -1",
         lambda: _fit(val=(X, Y - 1)), V, "fit", "val labels y", "min -1"),
    case("fit_zero_patience", "fit", "patience 0",
         lambda: _fit(patience=0, monitor="train_loss"), V, "fit", "patience", "got 0"),
    case("fit_verbose_three", "fit", "verbose 3",
         lambda: _fit(verbose=3), V, "fit", "verbose", "got 3"),
    case("fit_resume_other_optimizer", "fit", "a momentum state resumed with sgd",
         lambda: _fit(init=_resumable(), epochs=3), V,
         "fit", "init", "sgd(learning_rate=0.1)", "TraceState"),
    case("fit_resume_past_epochs", "fit", "a state after 2 epochs resumed with epochs=2",
         lambda: _fit(init=_resumable(optim.sgd(0.1)), epochs=2), V,
         "fit", "init", "after 2 epochs", "epochs=2"),
    case("fit_layer_apply_without_state", "fit", "a custom layer whose apply returns y only",
         lambda: _fit(model=serial(Flatten(), _NO_STATE, Dense(10))), T,
         "fit", "layer 1_no_state", "(y, new_state)", "one array of shape (1, 64)"),
    case("fit_several_inputs", "fit", "a tuple (x1, x2) as x of a one-input model",
         lambda: _fit(train=((X, X), Y)), T, "fit", "train x", "with 2 inputs of shapes",
         "does not fit the model"),
    case("fit_stream_empty", "fit", "a source of batches that yields none",
         lambda: _fit(train=lambda epoch: iter([]), batch_size=None), V, "fit",
         "train source", "no batch for epoch 0"),
    case("fit_stream_not_pairs", "fit", "a source that yields x without y",
         lambda: _fit(train=lambda epoch: iter([X[:8]]), batch_size=None), T, "fit",
         "batch at epoch 0, step 0", "(x, y) pair, got ndarray"),
    case("fit_stream_batch_size", "fit", "batch_size=16 with a source of batches of 8",
         lambda: _fit(train=lambda epoch: iter([(X[:8], Y[:8])]), batch_size=16), V, "fit",
         "batch_size", "source's batch size 8", "got 16"),
    case("fit_steps_per_epoch_with_arrays", "fit", "steps_per_epoch=3 with arrays",
         lambda: _fit(steps_per_epoch=3), V, "fit", "steps_per_epoch", "source of batches",
         "got steps_per_epoch=3"),
    case("fit_reduce_lr_without_injected_rate", "fit", "ReduceLROnPlateau with plain sgd",
         lambda: _fit(callbacks=[ReduceLROnPlateau("train_loss")]), V,
         "ReduceLROnPlateau", "hyperparams['learning_rate']", "inject_hyperparams"),
    case("reduce_lr_factor_one", "fit", "ReduceLROnPlateau factor 1.0",
         lambda: ReduceLROnPlateau(factor=1.0), V, "ReduceLROnPlateau", "factor", "1.0"),
    case("predict_without_batch_axis", "fit", "one example without its batch axis",
         lambda: predict(MLP, _resumable(optim.sgd(0.1)), X[0]), V,
         "predict", "x of shape (8, 8, 1)", "no batch axis", "x[None]"),
    # --- checkpoint -------------------------------------------------------------------------
    case("restore_other_structure", "checkpoint", "a checkpoint of another structure",
         lambda: _restore({"params": {"w": jnp.ones(3), "b": jnp.zeros(3)}}), V,
         "checkpoint.restore", "like", "missing (1): params.b"),
    case("restore_other_shapes", "checkpoint", "a checkpoint of other shapes",
         lambda: _restore({"params": {"w": jnp.ones(4)}}), V,
         "checkpoint.restore", "like", "params.w: saved float32[3], expected float32[4]"),
    case("save_keep_zero", "checkpoint", "keep 0 checkpoints",
         lambda: _save(keep=0), V, "checkpoint.save", "keep", "got 0"),
    case("save_keep_string", "checkpoint", "keep '3' (a string)",
         lambda: _save(keep="3"), T, "checkpoint.save", "keep", "'3'"),
    case("save_negative_step", "checkpoint", "step -1",
         lambda: _save(step=-1), V, "checkpoint.save", "step", "-1"),
    case("callback_every_zero", "checkpoint", "save every 0 epochs",
         lambda: checkpoint.checkpoint_callback("unused", every=0), V,
         "checkpoint_callback", "every", "got 0"),
    # --- sweep ------------------------------------------------------------------------------
    case("vmap_fit_mismatched_lengths", "sweep", "3 keys for 2 learning rates",
         lambda: _sweep(keys=jax.random.split(KEY, 3)), V, "vmap_fit", "keys=3", "learning_rate=2"),
    case("vmap_fit_2d_hparam", "sweep", "a (2, 2) hyperparameter",
         lambda: _sweep(hparams={"learning_rate": np.ones((2, 2))}), V,
         "vmap_fit", "'learning_rate'", "(2, 2)"),
    case("vmap_fit_negative_learning_rate", "sweep", "learning rates [0.1, -0.1]",
         lambda: _sweep(hparams={"learning_rate": [0.1, -0.1]}), V,
         "vmap_fit", "member 1", "sgd: learning_rate", "-0.1"),
    case("vmap_fit_dropout_rate_one", "sweep", "dropout rates [0.0, 1.0]",
         lambda: _sweep(model=lambda rate: serial(Flatten(), Dropout(rate), Dense(10)),
                        model_hparams={"rate": [0.0, 1.0]}), V,
         "vmap_fit", "model_hparams", "member 1", "Dropout: rate", "1.0"),
    case("vmap_fit_zero_epochs", "sweep", "epochs 0",
         lambda: _sweep(epochs=0), V, "vmap_fit", "epochs", "got 0"),
    case("vmap_fit_no_keys", "sweep", "keys=None",
         lambda: _sweep(keys=None), T, "vmap_fit", "keys", "None"),
    case("grid_search_unknown_mode", "sweep", "mode 'best'",
         lambda: grid_search({"lr": [0.1, 0.2]}, _train_fn, mode="best"), V,
         "grid_search", "mode", "'best'"),
    case("grid_search_empty_values", "sweep", "a hyperparameter with no values",
         lambda: grid_search({"lr": []}, _train_fn), V, "grid_search", "space['lr']", "[]"),
    case("random_search_zero_candidates", "sweep", "n = 0 candidates",
         lambda: random_search({"lr": [0.1]}, 0, KEY, _train_fn), V,
         "random_search", "n", "got 0"),
    case("log_uniform_zero_low", "sweep", "log_uniform(0, 1)",
         lambda: log_uniform(0, 1), V, "log_uniform", "low", "low=0"),
    case("callback_every_string", "checkpoint", "save every '2' epochs (a string)",
         lambda: checkpoint.checkpoint_callback("unused", every="2"), T,
         "checkpoint_callback", "every", "'2'"),
]
AREAS = {"layers", "initializers", "losses", "optimizers", "schedules", "data", "fit",
         "checkpoint", "sweep"}


def _raise(row: Case) -> BaseException:
    CALLS.clear()
    with pytest.raises(row.error) as info:
        row.call()
    return info.value


@pytest.mark.parametrize("row", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input_raises_a_named_error_before_any_compute(row):
    err = _raise(row)
    message = str(err)
    assert type(err) is row.error, f"{type(err).__name__}: {message}"
    missing = [n for n in row.needles if n not in message]
    assert not missing, f"{missing} not in the message: {message}"
    assert CALLS == [], f"{CALLS} ran before the bad input was rejected"


def test_the_table_covers_every_area_with_distinct_cases():
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids)
    assert len(CASES) >= 45
    assert {c.area for c in CASES} == AREAS
    assert all(len(c.needles) >= 3 for c in CASES)  # owner, parameter, value


def test_the_checks_let_traced_hyperparameters_through():
    """The values rejected above pass when traced (a vmapped sweep may hold them): only concrete
    values are checked. Closed forms: one sgd step from a zero trace is u = -lr g."""
    g = {"w": jnp.ones(2)}

    def first_update(lr, mu):
        opt = optim.sgd(lr, momentum=mu)
        return opt.update(g, opt.init(g))[0]["w"]

    u = jax.vmap(first_update)(jnp.array([0.1, -0.1]), jnp.array([0.5, 1.5]))
    np.testing.assert_allclose(u, [[-0.1, -0.1], [0.1, 0.1]], rtol=1e-6)
    lr = jax.jit(lambda v: schedules.piecewise_constant([5], v)(7))(jnp.array([1.0, -2.0]))
    assert float(lr) == -2.0
    y = jax.jit(lambda r: Dropout(r).apply({}, {}, jnp.ones(4), key=KEY, train=True)[0])(1.0)
    assert y.shape == (4,)


def _markdown() -> str:
    """docs/errors.md: every row with the message it really raises (tests/test_docs.py checks
    that the committed page is current)."""
    lines = ["# Errors", "",
             f"Bad input raises a `ValueError` or `TypeError` before anything compiles, naming the "
             f"owner (layer or function), the parameter and the bad value, as "
             f"`Owner: param must be <requirement>, got <value>`. Each of these {len(CASES)} "
             f"cases is a row of `tests/reliability/test_bad_inputs.py` (hyperparameters traced "
             f"under `jit`/`vmap` are not checked; only concrete values are). Regenerate this page "
             f"with `python tests/reliability/test_bad_inputs.py > docs/errors.md`.", "",
             "| area | bad input | exception | message excerpt |", "|---|---|---|---|"]
    for row in CASES:
        try:
            row.call()
            raise AssertionError(f"{row.id} did not raise")
        except (ValueError, TypeError) as err:
            text = " ".join(str(err).split())
            text = re.sub(r"'/[^']*'", "'<dir>'", re.sub(r" at 0x[0-9a-f]+", "", text))
            text = text if len(text) <= 200 else text[:197] + "..."
            text = text.replace("|", "\\|")
            lines.append(f"| {row.area} | {row.bad} | `{type(err).__name__}` | {text} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    print(_markdown())
