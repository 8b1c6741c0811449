"""npyflow.load and npyflow.inspect: every format the CLI reads, equal to numpy's and
PyTorch's own values; a .npy as a memory-mapped view; pickles never run."""

import numpy as np
import pytest

import npyflow
from conftest import FASHION, FORMATS, PICKLES


def test_load_npy_is_a_read_only_view_equal_to_numpy(tmp_path):
    for name, a in {
        "c.npy": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        "f.npy": np.asfortranarray(np.arange(24, dtype=np.int16).reshape(4, 6)),
        "big.npy": np.arange(10, dtype=">f8"),
        "bool.npy": np.array([[True, False]]),
        "half.npy": np.linspace(0, 1, 5).astype(np.float16),
        "scalar.npy": np.array(3.5),
        "empty.npy": np.zeros((0, 3), np.uint8),
    }.items():
        np.save(tmp_path / name, a)
        got = npyflow.load(tmp_path / name)
        assert got.dtype == a.dtype and got.shape == a.shape, name
        assert np.array_equal(got, a), name
        assert not got.flags.writeable and not got.flags.owndata, name
    assert npyflow.load(tmp_path / "f.npy").flags.f_contiguous


def test_load_npz_equals_numpy():
    got = npyflow.load(FASHION / "cnn.npz")
    want = np.load(FASHION / "cnn.npz")
    assert list(got) == list(want.files)
    for k in want.files:
        assert np.array_equal(got[k], want[k]), k


def test_load_reads_checkpoints_and_pickles_as_torch_and_numpy_do():
    # Each fixture beside the arrays numpy and PyTorch themselves read from it
    # (tests/io/make_pickle_fixtures.py).
    checked = 0
    for expected in sorted(PICKLES.glob("*.expected.npz")):
        path = PICKLES / expected.name[: -len(".expected.npz")]
        want = np.load(expected)
        try:
            got = npyflow.load(path)
        except npyflow.Error as e:  # a checkpoint with several candidate dicts asks for a key
            assert "--weights-key" in str(e), path.name
            continue
        got = got if isinstance(got, dict) else {"": got}
        assert sorted(got) == sorted(want.files), path.name
        for k in want.files:
            assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), (path.name, k)
        checked += 1
    assert checked >= 5
    # A state_dict saved by torch.save (with a transposed view and a shared storage) holds what
    # the .npz of the same model holds.
    got = npyflow.load(FORMATS / "cnn_b.pth")
    want = np.load(FORMATS.parent / "cnn_b.npz")
    assert sorted(got) == sorted(want.files)
    for k in want.files:
        assert np.array_equal(got[k], want[k]), k


def test_load_never_runs_a_pickle(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"w": Evil()}, protocol=2))
    with pytest.raises(npyflow.Error, match="never runs code"):
        npyflow.load(tmp_path / "evil.pkl")
    assert not (tmp_path / "ran").exists()


def test_load_pickled_list_names_arrays_as_weights_does(tmp_path):
    arrays = [np.ones((2, 3), np.float32), np.arange(3, dtype=np.float64)]
    np.save(tmp_path / "w.npy", np.array(arrays, dtype=object), allow_pickle=True)
    got = npyflow.load(tmp_path / "w.npy")
    assert list(got) == ["arr_0", "arr_1"]
    for k, a in zip(got, arrays):
        assert np.array_equal(got[k], a)


def test_inspect_lists_names_dtypes_shapes(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((5, 2), np.float32))
    report = npyflow.inspect(tmp_path / "x.npy")
    assert report["arrays"] == [{"name": "", "dtype": "float32", "shape": (5, 2), "fortran_order": False,
                                 "byte_order": "little", "nbytes": 40}]
    npz = npyflow.inspect(FASHION / "cnn.npz")
    want = np.load(FASHION / "cnn.npz")
    assert [(a["name"], a["dtype"], a["shape"]) for a in npz["arrays"]] == [
        (k, str(want[k].dtype), want[k].shape) for k in want.files]
    stats = npyflow.inspect(tmp_path / "x.npy", stats=True)["arrays"][0]
    assert stats["min"] == 0 and stats["max"] == 0 and stats["nan_count"] == 0


def test_file_errors(tmp_path):
    with pytest.raises(npyflow.Error, match="nothing.npy"):
        npyflow.load(tmp_path / "nothing.npy")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(npyflow.Error, match="bad.npy"):
        npyflow.load(tmp_path / "bad.npy")
    with pytest.raises(npyflow.Error, match="bad.npy"):
        npyflow.inspect(tmp_path / "bad.npy")


def test_names_that_are_not_utf8_are_kept(tmp_path):
    import zipfile
    import io

    buf = io.BytesIO()
    np.save(buf, np.arange(3, dtype=np.float32))
    with zipfile.ZipFile(tmp_path / "w.npz", "w") as z:
        info = zipfile.ZipInfo("caf\xe9.npy")  # stored in cp437: not UTF-8
        z.writestr(info, buf.getvalue())
    got = npyflow.load(tmp_path / "w.npz")
    assert len(got) == 1
    name = next(iter(got))
    assert np.array_equal(got[name], np.arange(3, dtype=np.float32))
    assert npyflow.inspect(tmp_path / "w.npz")["arrays"][0]["name"] == name
    with pytest.raises(npyflow.Error, match="."):  # a message, never an empty one
        npyflow.Model(FASHION / "mlp.json", tmp_path / "w.npz", strict=True)
