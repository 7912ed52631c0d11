"""jaxdl.data.datasets: shipped and synthetic data sets, the npz/IDX loaders and `split`."""

import gzip
import io
import re
import socket
import struct
import tracemalloc
import zipfile
import zlib

import jax
import numpy as np
import pytest
from sklearn.datasets import load_digits

from jaxdl import data
from jaxdl.data import datasets


def _rows(x):
    """Rows of a 2-D array as a sorted list of tuples (a multiset)."""
    return sorted(map(tuple, np.asarray(x).reshape(len(x), -1).tolist()))


def test_digits_shapes_dtypes_ranges_and_class_counts():
    (x_tr, y_tr), (x_te, y_te) = data.digits()
    ref = load_digits()
    assert x_tr.shape == (1438, 8, 8, 1) and x_te.shape == (359, 8, 8, 1)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int32 and y_te.dtype == np.int32
    assert float(x_tr.min()) == 0.0 and float(x_tr.max()) == 1.0
    counts = np.bincount(np.asarray(y_tr), minlength=10) + np.bincount(np.asarray(y_te),
                                                                       minlength=10)
    np.testing.assert_array_equal(counts, np.bincount(ref.target))
    # stratified 80/20: every class gives round(0.2 * m_c) examples to the test split
    np.testing.assert_array_equal(np.bincount(np.asarray(y_te), minlength=10),
                                  np.round(0.2 * np.bincount(ref.target)).astype(int))


def test_digits_is_sklearn_pixels_over_16_split_without_overlap():
    (x_tr, y_tr), (x_te, y_te) = data.digits()
    ref = load_digits()
    ours = np.concatenate([np.asarray(x_tr), np.asarray(x_te)]).reshape(-1, 64) * 16.0
    ours = np.concatenate([ours, np.concatenate([y_tr, y_te])[:, None]], axis=1)
    theirs = np.concatenate([ref.data, ref.target[:, None]], axis=1)
    assert _rows(np.round(ours)) == _rows(theirs)
    again = data.digits()
    np.testing.assert_array_equal(again[1][0], x_te)


def test_mnist1d_generates_offline_4000_1000_length_40_deterministically(monkeypatch):
    from mnist1d.data import get_dataset_args, make_dataset

    def no_network(*args):
        raise AssertionError("mnist1d() tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    np.random.seed(123)
    expected_next = np.random.RandomState(123).rand(2)[1]
    np.random.rand()
    datasets._mnist1d_arrays.cache_clear()
    (x_tr, y_tr), (x_te, y_te) = data.mnist1d()
    assert np.random.rand() == expected_next  # the global NumPy generator was put back
    assert x_tr.shape == (4000, 40) and x_te.shape == (1000, 40)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int32
    assert set(np.unique(np.asarray(y_tr)).tolist()) == set(range(10))
    ref = make_dataset(get_dataset_args())  # a second, independent generation by the package
    np.testing.assert_allclose(x_tr, ref["x"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y_te, ref["y_test"])
    (x_tr2, _), _ = data.mnist1d()  # served from the in-memory cache
    np.testing.assert_array_equal(x_tr2, x_tr)


def _least_squares_accuracy(x, y, classes):
    a = np.c_[np.asarray(x, np.float64), np.ones(len(x))]
    w = np.linalg.lstsq(a, np.eye(classes)[np.asarray(y)], rcond=None)[0]
    return np.mean((a @ w).argmax(1) == np.asarray(y))


def test_two_curves_lie_on_two_half_circles_balanced_and_not_linearly_separable(key):
    (x, y), (x_te, y_te) = data.two_curves(400, 0.0, key, n_test=100)
    assert x.shape == (400, 2) and x_te.shape == (100, 2) and x.dtype == np.float32
    assert y.dtype == np.int32 and np.bincount(np.asarray(y)).tolist() == [200, 200]
    x, y = np.asarray(x, np.float64), np.asarray(y)
    upper, lower = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, rtol=1e-5)
    assert _least_squares_accuracy(x, y, 2) < 0.95
    (x_noisy, y_noisy), _ = data.two_curves(400, 0.1, key)
    assert _least_squares_accuracy(x_noisy, y_noisy, 2) < 0.95


def test_spirals_follow_the_arm_formula_and_are_balanced(key):
    classes = 3
    (x, y), (x_te, _) = data.spirals(300, classes, 0.0, key)
    assert x.shape == (300, 2) and x_te.shape == (300, 2) and y.dtype == np.int32
    assert np.bincount(np.asarray(y)).tolist() == [100, 100, 100]
    x, y = np.asarray(x, np.float64), np.asarray(y)
    r = np.hypot(x[:, 0], x[:, 1])
    theta = np.arctan2(x[:, 0], x[:, 1])  # x = r sin(theta), y = r cos(theta)
    expected = 2 * np.pi * y / classes + 4 * r
    np.testing.assert_allclose(np.cos(theta - expected), 1.0, atol=1e-4)
    assert _least_squares_accuracy(x, y, classes) < 0.8


def test_synthetic_sets_reject_bad_arguments(key):
    with pytest.raises(ValueError, match=r"two_curves: n must be >= 1, got 0"):
        data.two_curves(0, 0.1, key)
    with pytest.raises(ValueError, match=r"two_curves: noise .* got -0.1"):
        data.two_curves(10, -0.1, key)
    with pytest.raises(ValueError, match=r"spirals: classes must be >= 2, got 1"):
        data.spirals(10, 1, 0.1, key)


def test_load_npz_both_layouts(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.integers(0, 3, 6)
    np.savez(tmp_path / "split.npz", x_train=x[:4], y_train=y[:4], x_test=x[4:], y_test=y[4:])
    (x_tr, y_tr), (x_te, y_te) = data.load_npz(tmp_path / "split.npz")
    np.testing.assert_allclose(x_tr, x[:4], rtol=1e-6)
    np.testing.assert_array_equal(y_te, y[4:])
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int32 and x_te.shape == (2, 3)
    np.savez(tmp_path / "all.npz", x=x, y=y)
    (x_all, y_all), test = data.load_npz(str(tmp_path / "all.npz"))
    assert test is None and x_all.shape == (6, 3)
    np.testing.assert_array_equal(y_all, y)
    np.savez(tmp_path / "bad.npz", inputs=x)
    with pytest.raises(ValueError, match=r"load_npz: .*bad.npz.*\['inputs'\]"):
        data.load_npz(tmp_path / "bad.npz")


def _idx(dims, payload, type_byte=0x08):
    return bytes([0, 0, type_byte, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


def test_load_idx_reads_handwritten_idx_files(tmp_path):
    images = np.arange(3 * 2 * 4, dtype=np.uint8).reshape(3, 2, 4) * 10
    labels = np.array([7, 0, 9], np.uint8)
    (tmp_path / "img").write_bytes(_idx((3, 2, 4), images.tobytes()))
    (tmp_path / "lab").write_bytes(_idx((3,), labels.tobytes()))
    x, y = data.load_idx(tmp_path / "img", tmp_path / "lab")
    assert x.shape == (3, 2, 4, 1) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_allclose(x[..., 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, [7, 0, 9])
    (tmp_path / "img.gz").write_bytes(gzip.compress(_idx((3, 2, 4), images.tobytes())))
    xg, _ = data.load_idx(tmp_path / "img.gz", tmp_path / "lab")
    np.testing.assert_array_equal(xg, x)


def test_load_idx_rejects_bad_magic_size_and_counts(tmp_path):
    (tmp_path / "lab").write_bytes(_idx((3,), bytes(3)))
    (tmp_path / "magic").write_bytes(b"\x01\x02\x08\x03" + bytes(40))
    with pytest.raises(ValueError, match=r"load_idx: .*magic.*not an IDX|not an IDX"):
        data.load_idx(tmp_path / "magic", tmp_path / "lab")
    (tmp_path / "short").write_bytes(_idx((3, 2, 4), bytes(20)))
    with pytest.raises(ValueError, match=r"load_idx: .*\(3, 2, 4\).*holds 20"):
        data.load_idx(tmp_path / "short", tmp_path / "lab")
    (tmp_path / "two").write_bytes(_idx((2, 2, 4), bytes(16)))
    with pytest.raises(ValueError, match=r"load_idx: .*\(2, 2, 4\) and \(3,\)"):
        data.load_idx(tmp_path / "two", tmp_path / "lab")


def _peak_bytes(fn, *args):
    """(the ValueError fn(*args) raised, tracemalloc's peak bytes during the call)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            fn(*args)
        return err.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("pack", [bytes, gzip.compress], ids=["plain", "gzip"])
def test_load_idx_checks_huge_declared_sizes_without_overflow_or_allocation(tmp_path, pack):
    (tmp_path / "lab").write_bytes(_idx((3,), bytes(3)))
    top = 2**32 - 1
    (tmp_path / "img").write_bytes(pack(_idx((top, top, top), bytes(24))))
    err, peak = _peak_bytes(data.load_idx, tmp_path / "img", tmp_path / "lab")
    assert f"({top**3} bytes)" in str(err)  # the true size, about 7.9e28 bytes, not int64's
    assert str(err).startswith(f"load_idx: {str(tmp_path / 'img')!r}")
    assert peak < 1 << 20


def test_load_idx_refuses_other_dimension_counts_and_truncated_headers(tmp_path):
    (tmp_path / "lab").write_bytes(_idx((3,), bytes(3)))
    (tmp_path / "img").write_bytes(bytes([0, 0, 8, 200]) + bytes(800))
    with pytest.raises(ValueError, match=r"load_idx: '.*img' declares 200 dimensions; images "
                                         r"need 3"):
        data.load_idx(tmp_path / "img", tmp_path / "lab")
    (tmp_path / "img").write_bytes(_idx((3, 2, 4), b"")[:9])
    with pytest.raises(ValueError, match=r"load_idx: '.*img' is truncated: its header declares 3 "
                                         r"dimensions \(16 bytes\) but ends after 9"):
        data.load_idx(tmp_path / "img", tmp_path / "lab")
    (tmp_path / "img").write_bytes(_idx((3, 2, 4), bytes(24)))
    (tmp_path / "lab").write_bytes(_idx((3, 1), bytes(3)))
    with pytest.raises(ValueError, match=r"load_idx: '.*lab' declares 2 dimensions; labels "
                                         r"need 1"):
        data.load_idx(tmp_path / "img", tmp_path / "lab")


def test_load_idx_never_decompresses_a_gzip_beyond_what_its_header_declares(tmp_path):
    """A "zip bomb": 32 MiB of zeros (32 KiB compressed) after a header declaring 24 bytes."""
    (tmp_path / "lab").write_bytes(_idx((3,), bytes(3)))
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    parts = [packer.compress(_idx((3, 2, 4), bytes(24)))]
    parts += [packer.compress(bytes(1 << 20)) for _ in range(32)] + [packer.flush()]
    (tmp_path / "bomb.gz").write_bytes(b"".join(parts))
    err, peak = _peak_bytes(data.load_idx, tmp_path / "bomb.gz", tmp_path / "lab")
    assert re.search(r"load_idx: '.*bomb\.gz' \(gzip\) declares shape \(3, 2, 4\) of uint8 "
                     r"\(24 bytes\) but holds more", str(err))
    assert peak < 4 << 20  # a few MiB of buffers, not 32 MiB


def test_load_idx_names_a_corrupt_or_truncated_gzip_stream(tmp_path):
    (tmp_path / "lab").write_bytes(_idx((3,), bytes(3)))
    packed = gzip.compress(_idx((3, 2, 4), bytes(range(24))))
    (tmp_path / "cut.gz").write_bytes(packed[:-6])
    with pytest.raises(ValueError, match=r"load_idx: '.*cut\.gz' \(gzip\) is corrupt or truncated "
                                         r"\(EOFError"):
        data.load_idx(tmp_path / "cut.gz", tmp_path / "lab")
    crc = bytearray(packed)
    crc[-8] ^= 1  # the CRC-32 of the content
    (tmp_path / "crc.gz").write_bytes(bytes(crc))
    with pytest.raises(ValueError, match=r"load_idx: '.*crc\.gz' \(gzip\) is corrupt or truncated "
                                         r"\(BadGzipFile: CRC check failed"):
        data.load_idx(tmp_path / "crc.gz", tmp_path / "lab")


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _with_member(raw: bytes, name: str, body: bytes) -> bytes:
    """The zip `raw` with member `name` replaced by `body` (a valid zip: CRCs recomputed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, body if info.filename == name else src.read(info))
    return out.getvalue()


def test_load_npz_names_each_malformed_file(tmp_path):
    x, y = np.arange(12.0).reshape(4, 3), np.arange(4)
    raw = _npz_bytes(x=x, y=y)
    member = _npz_member(x)
    cases = {
        "not a zip": (b"x,y\n1,2\n", r" is not an \.npz file \(a zip archive of \.npy arrays\)"),
        "cut": (raw[:len(raw) // 2], r" is not an \.npz file"),
        "short member": (_with_member(raw, "x.npy", member[:-8]),
                         r": array 'x' declares shape \(4, 3\) of float64 \(96 bytes\) but "
                         r"holds 88"),
        "claim": (_with_member(raw, "x.npy", _npz_member(x, shape=(9999999999999, 3))),
                  rf": array 'x' declares shape \(9999999999999, 3\) of float64 "
                  rf"\({9999999999999 * 3 * 8} bytes\) but holds 96"),
        "pickle": (_with_member(raw, "y.npy", _npz_member(np.array([1, None], dtype=object))),
                   r": array 'y' holds pickled Python objects \(dtype object\): refused"),
        "text": (_with_member(raw, "y.npy", _npz_member(np.array(["a", "b"]))),
                 r": array 'y' has dtype <U1; load_npz needs bool, int, uint or float arrays"),
    }
    flipped = bytearray(raw)
    flipped[raw.index(x.tobytes()) + 5] ^= 1  # one bit of x's data: its CRC-32 now differs
    cases["bit flip"] = (bytes(flipped), r": array 'x' is corrupt or truncated \(BadZipFile: "
                                         r"Bad CRC-32")
    for name, (content, match) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.npz"
        path.write_bytes(content)
        with pytest.raises(ValueError, match=rf"^load_npz: {re.escape(repr(str(path)))}{match}"):
            data.load_npz(path)


def _npz_member(a: np.ndarray, shape: tuple | None = None) -> bytes:
    """The .npy bytes of `a`, its header claiming `shape` when given."""
    buf = io.BytesIO()
    if shape is None:
        np.lib.format.write_array(buf, a, allow_pickle=True)
    else:
        np.lib.format.write_array_header_1_0(buf, {"shape": shape, "fortran_order": False,
                                                   "descr": np.lib.format.dtype_to_descr(a.dtype)})
        buf.write(a.tobytes())
    return buf.getvalue()


def test_load_npz_reads_what_numpy_reads(tmp_path):
    f = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    np.savez_compressed(tmp_path / "c.npz", x_train=f, y_train=np.array([1, 0], np.uint8),
                        x_test=np.ones((1, 3, 4), bool), y_test=np.array([0.5], np.float32))
    (x, y), (x_test, y_test) = data.load_npz(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as ref:
        np.testing.assert_array_equal(x, ref["x_train"])
        np.testing.assert_array_equal(y, ref["y_train"])
        np.testing.assert_array_equal(x_test, ref["x_test"].astype(np.float32))
        np.testing.assert_array_equal(y_test, ref["y_test"])
    assert y.dtype == np.int32 and y_test.dtype == np.float32 and x_test.dtype == np.float32


def test_split_is_disjoint_complete_and_stratified(key):
    y = np.repeat(np.arange(3), [100, 50, 30])
    x = np.arange(len(y), dtype=np.float32)[:, None]
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data.split(x, y, val=0.1, test=0.2, key=key)
    ids = [set(np.asarray(a)[:, 0].astype(int).tolist()) for a in (x_tr, x_va, x_te)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert ids[0] | ids[1] | ids[2] == set(range(len(y)))
    np.testing.assert_array_equal(np.bincount(np.asarray(y_te)), [20, 10, 6])
    np.testing.assert_array_equal(np.bincount(np.asarray(y_va)), [10, 5, 3])
    np.testing.assert_array_equal(np.bincount(np.asarray(y_tr)), [70, 35, 21])
    np.testing.assert_array_equal(y[np.asarray(x_te)[:, 0].astype(int)], y_te)  # pairs kept
    same = data.split(x, y, val=0.1, test=0.2, key=key)[2][0]
    other = data.split(x, y, val=0.1, test=0.2, key=jax.random.key(1))[2][0]
    np.testing.assert_array_equal(same, x_te)
    assert not np.array_equal(other, x_te)


def test_split_without_stratify_uses_exact_fractions(key):
    x, y = np.zeros((50, 2), np.float32), np.zeros(50, np.int32)
    train, val, test = data.split(x, y, val=0.2, test=0.1, key=key, stratify=False)
    assert (len(train[0]), len(val[0]), len(test[0])) == (35, 10, 5)


def test_split_rejects_bad_fractions_and_lengths(key):
    x, y = np.zeros((10, 2)), np.zeros(10, np.int32)
    with pytest.raises(ValueError, match=r"split: val \+ test must be < 1.*0.6.*0.5"):
        data.split(x, y, val=0.6, test=0.5, key=key)
    with pytest.raises(ValueError, match=r"split: test must be in \[0.0, 1.0\), got 1.0"):
        data.split(x, y, test=1.0, key=key)
    with pytest.raises(ValueError, match=r"split: .*got 10 and 9"):
        data.split(x, y[:9], key=key)
