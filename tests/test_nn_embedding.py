"""Embedding against NumPy: a row lookup equal to one_hot(ids) @ w, its gradient a scatter-add of
the upstream gradient into the rows of the ids (np.add.at), and out-of-range ids a named error
(concrete) or NaN rows (traced under jit)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.nn import Embedding

V, D = 7, 3
IDS = np.array([[0, 6, 2, 2], [5, 1, 1, 0]], np.int32)


@pytest.fixture(scope="module")
def table():
    layer = Embedding(V, D)
    params, state, out = layer.init(jax.random.key(0), (4,))
    return layer, params, state, out


def test_embedding_is_a_row_lookup_equal_to_one_hot_matmul(table):
    layer, params, state, out = table
    y, new_state = layer.apply(params, state, jnp.asarray(IDS))
    w = np.asarray(params["w"], np.float64)
    assert out == (4, D) and y.shape == (2, 4, D) and new_state == {}
    np.testing.assert_array_equal(y, np.asarray(params["w"])[IDS])
    np.testing.assert_allclose(y, np.eye(V)[IDS] @ w, rtol=1e-6, atol=1e-7)
    assert abs(float(jnp.std(Embedding(V, 64).init(jax.random.key(1), (1,))[0]["w"])) - 1) < 0.1


def test_embedding_gradient_adds_each_upstream_row_into_the_row_of_its_id(table):
    layer, params, state, _ = table
    g = np.asarray(jax.random.normal(jax.random.key(2), (2, 4, D)))
    grad = jax.grad(lambda p: jnp.sum(layer.apply(p, state, jnp.asarray(IDS))[0] * g))(params)
    expected = np.zeros((V, D))
    np.add.at(expected, IDS.ravel(), g.reshape(-1, D))
    np.testing.assert_allclose(grad["w"], expected, rtol=1e-6, atol=1e-6)
    assert not np.any(expected[[3, 4]])  # ids 3 and 4 are unused: zero gradient


@pytest.mark.parametrize("bad, shown", [(7, "got 7 at index (1, 2)"),
                                        (-1, "got -1 at index (1, 2)")])
def test_out_of_range_concrete_ids_name_the_layer_the_parameter_and_the_value(table, bad, shown):
    layer, params, state, _ = table
    ids = IDS.copy()
    ids[1, 2] = bad
    with pytest.raises(ValueError, match=r"Embedding: ids must be in \[0, num_embeddings\) = "
                                         rf"\[0, 7\), {re.escape(shown)}"):
        layer.apply(params, state, jnp.asarray(ids))


def test_out_of_range_traced_ids_give_nan_rows_never_a_clamped_row(table):
    layer, params, state, _ = table
    ids = jnp.asarray(IDS).at[0, 1].set(V).at[1, 3].set(-1)
    y, _ = jax.jit(layer.apply)(params, state, ids)
    assert np.isnan(y[0, 1]).all() and np.isnan(y[1, 3]).all()
    keep = np.ones((2, 4), bool)
    keep[0, 1] = keep[1, 3] = False
    np.testing.assert_array_equal(np.asarray(y)[keep], np.asarray(params["w"])[IDS][keep])


def test_float_ids_are_a_type_error(table):
    layer, params, state, _ = table
    with pytest.raises(TypeError, match=r"Embedding: ids must be an integer array, got dtype "
                                        r"float32; cast with ids.astype\(jnp.int32\)"):
        layer.apply(params, state, jnp.asarray(IDS, jnp.float32))
