"""fit from a source of batches (jaxdl.train.stream, jaxdl.data.streaming): the reference is fit's
in-memory epoch fed the same batches, which must give the same params bit for bit; resumed runs
against uninterrupted ones; grain pipelines against the same batches listed by hand; and every
bad source raises an error naming the epoch and the step, with the last checkpoint intact."""

import grain
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import checkpoint, optim
from jaxdl.activations import Relu
from jaxdl.core import serial
from jaxdl.data.batching import batch_indices
from jaxdl.data.streaming import ArrayStream
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.train import NonFiniteError, fit

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 6)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int32)
MODEL = serial(Dense(16), Relu(), Dense(2))
KEY = jax.random.key(1)
KW = dict(key=KEY, verbose=0)


def _fit(train, **kw):
    return fit(MODEL, softmax_cross_entropy, optim.adam(0.01), train, **{**KW, **kw})


def _same(a, b):
    for u, v in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(u, v)


def _in_memory_batches(x, y, batch):
    """epoch -> the batches fit's in-memory epoch draws (its documented permutation)."""
    base = jax.random.fold_in(KEY, 1)  # init_state's base key

    def source(e):
        perm_key, _ = jax.random.split(jax.random.fold_in(base, e))
        for rows in np.asarray(batch_indices(perm_key, len(y), batch)[0]):
            yield jax.tree.map(lambda a: a[rows], x), y[rows]

    return source


@pytest.fixture(scope="module")
def in_memory():
    return _fit((X, Y), val=(X[:50], Y[:50]), epochs=3, batch_size=20)


@pytest.fixture(scope="module")
def two_epochs():
    return _fit(_in_memory_batches(X, Y, 20), epochs=2, chunk=4)[0]


def test_a_stream_of_the_in_memory_batches_gives_bit_equal_params_and_history(in_memory):
    ts, h = _fit(_in_memory_batches(X, Y, 20), val=(X[:50], Y[:50]), epochs=3, chunk=3)
    _same(ts, in_memory[0])  # 10 steps per epoch in chunks of 3, 3, 3, 1
    assert int(ts.step) == 30
    for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h.values[k], in_memory[1].values[k], rtol=1e-6)


def test_a_list_of_batches_is_read_once_per_epoch_and_a_generator_across_epochs():
    batches = [(X[i:i + 20], Y[i:i + 20]) for i in range(0, 200, 20)]
    ts_list, h = _fit(batches, epochs=2, chunk=4)
    assert int(ts_list.step) == 20 and h.values["train_loss"].shape == (2,)
    ts_gen, _ = _fit((b for b in batches * 2), epochs=2, chunk=4, steps_per_epoch=10)
    _same(ts_gen, ts_list)


def test_array_stream_shards_cover_each_global_batch_and_epochs_differ(tmp_path):
    np.save(tmp_path / "x.npy", X)
    whole = ArrayStream(str(tmp_path / "x.npy"), Y, 40, seed=7, shard=(0, 1))
    halves = [ArrayStream(X, Y, 40, seed=7, shard=(i, 2)) for i in range(2)]
    assert len(whole) == 5
    for epoch in (0, 1):
        for (xb, yb), (x0, y0), (x1, y1) in zip(whole(epoch), halves[0](epoch),
                                                 halves[1](epoch), strict=True):
            np.testing.assert_array_equal(xb, np.concatenate([x0, x1]))
            np.testing.assert_array_equal(yb, np.concatenate([y0, y1]))
    rows = [np.concatenate([b[0][:, :1] for b in whole(e)]).ravel() for e in (0, 1, 0)]
    assert len(set(rows[0].tolist())) == 200 and len(set(rows[1].tolist())) == 200
    assert not np.array_equal(rows[0], rows[1]) and np.array_equal(rows[0], rows[2])


def test_array_stream_reads_files_by_pread_as_numpy_indexes_arrays(tmp_path):
    ids = np.arange(203, dtype=np.float64)[:, None] * np.ones((1, 3))  # row i holds i
    np.save(tmp_path / "ids.npy", ids)
    np.save(tmp_path / "y.npy", np.arange(203, dtype=np.int32))
    by_file = ArrayStream(str(tmp_path / "ids.npy"), str(tmp_path / "y.npy"), 24, block=4)
    by_index = ArrayStream(ids, np.arange(203, dtype=np.int32), 24, block=4)
    assert len(by_file) == 200 // 24  # the last 203 mod 4 rows are left out
    seen = []
    for (xf, yf), (xi, yi) in zip(by_file(1), by_index(1), strict=True):
        np.testing.assert_array_equal(xf, xi)
        np.testing.assert_array_equal(yf, yi)
        np.testing.assert_array_equal(xf[:, 0], yf)
        runs = yf.reshape(-1, 4)  # blocks of 4 consecutive rows starting at multiples of 4
        assert np.all(np.diff(runs, axis=1) == 1) and np.all(runs[:, 0] % 4 == 0)
        seen += yf.tolist()
    assert len(set(seen)) == len(seen) == 8 * 24
    with open(tmp_path / "ids.npy", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(ValueError, match=r"ids.npy is truncated: its header declares shape "
                                         r"\(203, 3\)"):
        ArrayStream(str(tmp_path / "ids.npy"), Y, 24)
    np.save(tmp_path / "f.npy", np.asfortranarray(ids))
    with pytest.raises(ValueError, match="f.npy must hold a C-ordered array"):
        ArrayStream(str(tmp_path / "f.npy"), Y, 24)


def test_a_run_resumed_from_a_checkpoint_equals_the_uninterrupted_one(tmp_path):
    stream = ArrayStream(X, Y, 25, seed=3)
    whole, _ = _fit(stream, epochs=4, chunk=3)
    directory = str(tmp_path / "ckpt")
    _fit(stream, epochs=2, chunk=3, callbacks=[checkpoint.checkpoint_callback(directory)])
    resumed_from = checkpoint.restore(directory, whole)
    assert int(resumed_from.step) == 16  # the loader position: epoch 2 of 8 steps
    resumed, h = _fit(stream, epochs=4, chunk=3, init=resumed_from)
    _same(resumed, whole)
    assert h.values["train_loss"].shape == (2,)


def test_a_grain_pipeline_trains_like_its_batches_listed_by_hand():
    examples = grain.MapDataset.source([(X[i], Y[i]) for i in range(200)])

    def source(epoch):
        return examples.shuffle(seed=epoch).batch(20, drop_remainder=True)

    listed = {e: [(np.asarray(a), np.asarray(b)) for a, b in source(e)] for e in (0, 1)}
    assert listed[0][0][0].shape == (20, 6)
    by_grain, _ = _fit(source, epochs=2, chunk=4)
    by_hand, _ = _fit(lambda e: iter(listed[e]), epochs=2, chunk=4)
    _same(by_grain, by_hand)


def test_a_model_with_two_inputs_trains_from_a_stream():
    from test_several_inputs import _two_inputs

    body = serial(Dense(8), Relu(), Dense(2))
    x2 = (X[:, :2], X[:, 2:])
    a, _ = fit(_two_inputs(body), softmax_cross_entropy, optim.sgd(0.1),
               _in_memory_batches(x2, Y, 20), epochs=2, chunk=4, **KW)
    b, _ = fit(_two_inputs(body), softmax_cross_entropy, optim.sgd(0.1), (x2, Y), epochs=2,
               batch_size=20, **KW)
    _same(a, b)


def test_a_non_finite_step_raises_the_same_error_and_state_as_in_memory():
    x, y = X[:190].copy(), Y[:190]  # 9 steps of 20: 10 rows left out of each epoch
    base = jax.random.fold_in(KEY, 1)
    epoch = [np.asarray(batch_indices(jax.random.split(jax.random.fold_in(base, e))[0], 190,
                                      20)[0]) for e in (0, 1)]
    left_out = set(range(190)) - set(epoch[0].ravel().tolist())
    step = next(s for s in range(9) if left_out & set(epoch[1][s].tolist()))
    x[sorted(left_out & set(epoch[1][step].tolist()))[0]] = 3e38  # inf loss, first in epoch 1
    match = rf"epoch 1, step {step} \(global step {9 + step}\)"
    with pytest.raises(NonFiniteError, match=match) as streamed:
        _fit(_in_memory_batches(x, y, 20), epochs=2, chunk=4)
    with pytest.raises(NonFiniteError, match=match) as memory:
        _fit((x, y), epochs=2, batch_size=20)
    _same(streamed.value.train_state, memory.value.train_state)
    assert int(streamed.value.train_state.step) == 9 + step


def _broken(epoch, *, shape_at=None, dtype_at=None, stop_at=None, partial_at=None):
    for s, (xb, yb) in enumerate(_in_memory_batches(X, Y, 20)(epoch)):
        if (epoch, s) == stop_at:
            return
        if (epoch, s) == shape_at:
            xb = xb[:, :5]
        if (epoch, s) == dtype_at:
            xb = xb.astype(np.float64)
        if (epoch, s) == partial_at:
            xb, yb = xb[:7], yb[:7]
        yield xb, yb


@pytest.mark.parametrize("bad, message", [
    ({"shape_at": (2, 6)}, r"fit: the train source's batch at epoch 2, step 6 has \(x, y\) of "
                           r"shapes and dtypes \[\(20, 5\) float32, \(20,\) int32\], the first "
                           r"batch had \[\(20, 6\) float32, \(20,\) int32\]"),
    ({"dtype_at": (2, 3)}, r"epoch 2, step 3 has .*\(20, 6\) float64"),
    ({"partial_at": (2, 9)}, r"epoch 2, step 9 .* drop_remainder=True"),
    ({"stop_at": (2, 7)}, r"fit: the train source ended early: 7 batches in epoch 2, expected "
                          r"10 .* the TrainState after epoch 1 is the last complete one"),
])
def test_a_bad_batch_mid_epoch_names_epoch_and_step_and_keeps_the_last_checkpoint(
        tmp_path, two_epochs, bad, message):
    directory = str(tmp_path / "ckpt")
    with pytest.raises(ValueError, match=message):
        _fit(lambda e: _broken(e, **bad), epochs=4, chunk=4,
             callbacks=[checkpoint.checkpoint_callback(directory)])
    assert checkpoint.steps(directory) == [10, 20]
    _same(checkpoint.restore(directory, two_epochs), two_epochs)


def test_bad_sources_and_settings_are_refused_before_anything_compiles(two_epochs):
    with pytest.raises(ValueError, match="fit: the train source yielded no batch for epoch 0"):
        _fit(lambda e: iter([]), epochs=1)
    with pytest.raises(ValueError, match=r"fit: batch_size must be the source's batch size 20 "
                                         r"\(20 rows per batch x 1 processes\) or None, got 32"):
        _fit(_in_memory_batches(X, Y, 20), epochs=1, batch_size=32)
    with pytest.raises(ValueError, match="fit: steps_per_epoch is for a source of batches"):
        _fit((X, Y), epochs=1, batch_size=20, steps_per_epoch=3)
    with pytest.raises(ValueError, match="fit: resuming from a source without len"):
        _fit(_in_memory_batches(X, Y, 20), epochs=3, init=two_epochs)
    with pytest.raises(TypeError, match="fit: the train source's batch at epoch 0, step 0 must "
                                        "be an \\(x, y\\) pair, got ndarray"):
        _fit(lambda e: iter([X[:20]]), epochs=1)
    with pytest.raises(ValueError, match="fit: chunk must be"):
        _fit(_in_memory_batches(X, Y, 20), epochs=1, chunk=0)
    if len(jax.devices()) >= 2:
        with pytest.raises(ValueError, match=r"fit: the train source's batch at epoch 0, step 0 "
                                             r"\(5 rows x 1 processes\) cannot be sharded: fit: "
                                             r"batch_size must be a multiple of the 2 devices"):
            _fit(_in_memory_batches(X, Y, 5), epochs=1, mesh=jax.sharding.Mesh(
                np.array(jax.devices()[:2]), ("data",)))
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("batch",))
    with pytest.raises(ValueError, match=r"epoch 0, step 0 .* fit: mesh must have a 'data' "
                                         r"axis, got axes \('batch',\)"):
        _fit(_in_memory_batches(X, Y, 20), epochs=1, mesh=mesh)


def test_an_exception_in_the_source_reaches_the_caller_unchanged():
    def source(epoch):
        yield X[:20], Y[:20]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        _fit(source, epochs=1)


def test_a_stream_sharded_over_the_devices_matches_one_device(in_memory):
    from jaxdl.data_parallel import data_mesh

    if len(jax.devices()) < 2:
        pytest.skip("needs 2 devices")
    mesh = data_mesh(jax.devices()[:2])
    ts, _ = _fit(_in_memory_batches(X, Y, 20), val=(X[:50], Y[:50]), epochs=3, chunk=3,
                 mesh=mesh)
    for a, b in zip(jax.tree.leaves(ts.params), jax.tree.leaves(in_memory[0].params)):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-6)
