"""jaxdl.data.batching: epoch permutations for lax.scan and the fit input checks."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import batch_indices, check_xy, take


def test_padded_epoch_covers_each_index_once_and_masks_the_padding(key):
    idx, mask = batch_indices(key, 10, 4, drop_last=False)
    assert idx.shape == (3, 4) and mask.shape == (3, 4) and mask.dtype == bool
    idx, mask = np.asarray(idx), np.asarray(mask)
    assert sorted(idx[mask].tolist()) == list(range(10))
    assert mask.sum() == 10 and not mask[-1, 2:].any()
    assert ((idx >= 0) & (idx < 10)).all()  # padding holds valid indices


def test_drop_last_keeps_full_batches_of_distinct_indices(key):
    idx, mask = batch_indices(key, 10, 4)
    assert idx.shape == (2, 4) and bool(mask.all())
    assert len(set(np.asarray(idx).ravel().tolist())) == 8
    idx, mask = batch_indices(key, 12, 4, drop_last=False)
    assert idx.shape == (3, 4) and bool(mask.all())
    assert sorted(np.asarray(idx).ravel().tolist()) == list(range(12))


def test_batch_indices_is_a_new_permutation_per_key_under_jit_and_vmap(key):
    f = jax.jit(functools.partial(batch_indices, n=9, batch_size=3, drop_last=False))
    a, _ = f(key)
    b, _ = f(jax.random.key(1))
    np.testing.assert_array_equal(a, batch_indices(key, 9, 3, drop_last=False)[0])
    assert not np.array_equal(a, b)
    idx, mask = jax.vmap(f)(jax.random.split(key, 5))
    assert idx.shape == (5, 3, 3) and mask.shape == (5, 3, 3)
    for row in np.asarray(idx):
        assert sorted(row.ravel().tolist()) == list(range(9))


def test_take_gathers_every_leaf_into_steps_by_batch(key):
    x, y = jnp.arange(20.0).reshape(10, 2), jnp.arange(10)
    idx, _ = batch_indices(key, 10, 5)
    xb, yb = take((x, y), idx)
    assert xb.shape == (2, 5, 2) and yb.shape == (2, 5)
    np.testing.assert_array_equal(xb[..., 0], 2 * np.asarray(yb))


@pytest.mark.parametrize("batch_size", [0, -3, 11])
def test_batch_size_out_of_range_names_batch_size_n_and_value(key, batch_size):
    with pytest.raises(ValueError, match=rf"batch_indices: batch_size .*n = 10.*{batch_size}"):
        batch_indices(key, 10, batch_size)


def test_batch_size_must_be_an_int(key):
    with pytest.raises(TypeError, match=r"batch_indices: batch_size must be an int, got 2.5"):
        batch_indices(key, 10, 2.5)


def test_check_xy_accepts_good_data_at_the_edges_and_rejects_one_step_past_them():
    """Labels 0 and classes - 1, and one-hot rows, are accepted; the same data with one label at
    `classes`, or one value made inf, is not."""
    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 2, 1])
    assert check_xy(x, y, "fit", classes=3) is None
    assert check_xy(x.astype(np.float64), np.eye(3)[y], "fit", classes=3) is None
    assert check_xy(x, y.astype(np.float32), "fit") is None  # regression targets: no classes
    with pytest.raises(ValueError, match="labels"):
        check_xy(x, np.array([0, 1, 3, 1]), "fit", classes=3)
    x[1, 1] = np.inf
    with pytest.raises(ValueError, match="finite"):
        check_xy(x, y, "fit", classes=3)


def test_check_xy_errors_name_owner_array_and_values():
    x = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"fit: train x and y .*same number.*4.*3"):
        check_xy(x, np.zeros(3, np.int32), "fit")
    with pytest.raises(ValueError, match=r"fit: val data is empty"):
        check_xy(x[:0], np.zeros(0, np.int32), "fit", name="val")
    bad = x.copy()
    bad[0, 0], bad[2, 1], bad[3, 2] = np.nan, np.nan, np.inf
    with pytest.raises(ValueError, match=r"fit: train x must be finite, got 2 NaN and 1 inf"):
        check_xy(bad, np.zeros(4, np.int32), "fit")
    with pytest.raises(ValueError, match=r"fit: train labels y must be in \[0, 3\), got 2 "
                                         r"outside \(min -1, max 3\)"):
        check_xy(x, np.array([0, -1, 3, 2]), "fit", classes=3)
    with pytest.raises(ValueError, match=r"fit: train one-hot y must have 3 classes.*\(4, 2\)"):
        check_xy(x, np.ones((4, 2), np.float32), "fit", classes=3)


def test_check_xy_skips_traced_arrays():
    @jax.jit
    def f(x, y):
        check_xy(x, y, "fit", classes=2)
        return x.sum()

    assert np.isnan(float(f(jnp.full((2, 2), jnp.nan), jnp.array([5, 7]))))  # ran, no raise
