"""npyflow.Dataset: every row exactly once, in order or in a seeded order of batches, for any
batch, prefetch and threads; rank/ranks shards; the preprocess ops as the CLI applies them;
labels beside the rows; errors with their messages."""

import json
import os

import numpy as np
import pytest

import npyflow
from conftest import FASHION, bits, images, numbered_rows, run_cli

N = 1000


@pytest.fixture(scope="module")
def rows_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("dataset") / "rows.npy"
    np.save(path, numbered_rows(N))
    return path


def rows_of(batches):
    return np.concatenate(list(batches)) if batches else np.zeros((0, 3), np.int32)


@pytest.mark.parametrize("batch", [1, 7, 64, 999, 1000, 4096])
@pytest.mark.parametrize("prefetch,threads", [(1, 1), (3, 2), (None, None)])
def test_every_row_once_in_order(rows_file, batch, prefetch, threads):
    ds = npyflow.Dataset(rows_file, batch=batch, prefetch=prefetch, threads=threads)
    batches = list(ds)
    assert len(batches) == len(ds) == -(-N // batch)
    assert all(b.shape[0] == batch for b in batches[:-1])
    assert np.array_equal(rows_of(batches), numbered_rows(N))


@pytest.mark.parametrize("batch,threads", [(1, 2), (13, 1), (100, 2)])
def test_shuffle_is_a_seeded_order_of_whole_batches(rows_file, batch, threads):
    ds = npyflow.Dataset(rows_file, batch=batch, threads=threads, shuffle=True, seed=7)
    first = list(ds)
    got = rows_of(first)
    assert len(first) == len(ds)
    # Every row once; batches stay whole runs of rows.
    assert np.array_equal(np.sort(got[:, 0]), np.arange(N))
    for b in first:
        assert np.array_equal(b[:, 0], np.arange(b[0, 0], b[0, 0] + len(b)))
        assert b[0, 0] % batch == 0
    assert not np.array_equal(got[:, 0], np.arange(N))
    # The same seed and epoch: the same order, whatever the threads; the next epoch another.
    again = npyflow.Dataset(rows_file, batch=batch, threads=3 - threads, shuffle=True, seed=7)
    assert np.array_equal(rows_of(list(again)), got)
    second = rows_of(list(ds))
    assert ds.epoch == 2
    assert not np.array_equal(second, got)
    ds.set_epoch(0)
    assert np.array_equal(rows_of(list(ds)), got)
    other = npyflow.Dataset(rows_file, batch=batch, shuffle=True, seed=8)
    assert not np.array_equal(rows_of(list(other)), got)


@pytest.mark.parametrize("ranks", [1, 2, 3, 7])
@pytest.mark.parametrize("shuffle", [False, True])
def test_ranks_split_the_rows_as_jobs_do(rows_file, ranks, shuffle):
    start, stop = 10, 990
    seen = []
    for r in range(ranks):
        ds = npyflow.Dataset(rows_file, batch=32, start=start, stop=stop, rank=r, ranks=ranks, shuffle=shuffle)
        got = rows_of(list(ds))[:, 0]
        lo, hi = start + (stop - start) * r // ranks, start + (stop - start) * (r + 1) // ranks
        assert ds.rows == hi - lo
        assert np.array_equal(np.sort(got), np.arange(lo, hi))
        seen.append(got)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(start, stop))


def test_drop_last_and_stop_past_the_end(rows_file):
    ds = npyflow.Dataset(rows_file, batch=300, drop_last=True, stop=10**12)
    batches = list(ds)
    assert len(ds) == len(batches) == 3 and ds.rows == 900
    assert np.array_equal(rows_of(batches), numbered_rows(N)[:900])


def test_several_files_are_one_dataset(tmp_path):
    whole = numbered_rows(500, dtype=np.float32)
    np.save(tmp_path / "a.npy", whole[:123])
    np.save(tmp_path / "b.npy", np.asfortranarray(whole[123:400]))
    np.save(tmp_path / "c.npy", whole[400:].astype(">f4"))
    ds = npyflow.Dataset([tmp_path / "a.npy", str(tmp_path / "b.npy"), tmp_path / "c.npy"], batch=64)
    got = rows_of(list(ds))
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert np.array_equal(got, whole)


def test_preprocess_ops_as_the_cli_applies_them(tmp_path):
    np.save(tmp_path / "x.npy", images(777))
    spec = FASHION / "cnn.json"
    run_cli("preprocess", tmp_path / "x.npy", "-o", tmp_path / "cli.npy", "--spec", spec, "-q")
    cli = np.load(tmp_path / "cli.npy")
    for given in (spec, json.loads(spec.read_text()), json.loads(spec.read_text())["preprocess"]):
        ds = npyflow.Dataset(tmp_path / "x.npy", spec=given, batch=100, threads=2)
        assert ds.sample_shape == [1, 28, 28] and ds.dtype == np.float32
        got = rows_of(list(ds))
        assert np.array_equal(bits(got), bits(cli))


def test_labels_come_with_their_rows(rows_file, tmp_path):
    labels = (np.arange(N) % 10).astype(np.int64)
    np.save(tmp_path / "y.npy", labels)
    ds = npyflow.Dataset(rows_file, batch=64, shuffle=True, labels=tmp_path / "y.npy")
    count = 0
    for x, y in ds:
        assert y.dtype == np.int64 and y.shape == (len(x),)
        assert np.array_equal(y, labels[x[:, 0]])
        count += len(x)
    assert count == N


def test_batches_own_their_bytes_and_torch_takes_them_without_a_copy(rows_file):
    batches = list(npyflow.Dataset(rows_file, batch=100, prefetch=1))
    # Batches taken earlier are not overwritten by later ones.
    assert np.array_equal(rows_of(batches), numbered_rows(N))
    b = batches[0]
    assert b.flags.writeable and b.flags.c_contiguous
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(b)
    assert t.data_ptr() == b.ctypes.data


def test_a_pass_left_early_stops_its_pipeline(rows_file):
    ds = npyflow.Dataset(rows_file, batch=10, prefetch=2)
    for _ in range(20):
        it = iter(ds)
        next(it)
        del it  # the pipeline is stopped and waited for, not left running
    assert len(rows_of(list(ds))) == N


def test_errors_name_what_is_wrong(rows_file, tmp_path):
    with pytest.raises(npyflow.Error, match="missing.npy"):
        npyflow.Dataset(tmp_path / "missing.npy")
    np.save(tmp_path / "other.npy", np.zeros((4, 5), np.int32))
    with pytest.raises(npyflow.Error, match="other.npy"):
        npyflow.Dataset([rows_file, tmp_path / "other.npy"])
    with pytest.raises(npyflow.Error, match="unknown op 'blur'|'blur'"):
        npyflow.Dataset(rows_file, spec=[{"op": "blur"}])
    with pytest.raises(npyflow.Error, match='needs a "preprocess" list'):
        npyflow.Dataset(rows_file, spec={"layers": []})
    with pytest.raises(npyflow.Error, match="rank 2 of 2"):
        npyflow.Dataset(rows_file, rank=2, ranks=2)
    with pytest.raises(npyflow.Error, match="batch must be at least 1, not 0"):
        npyflow.Dataset(rows_file, batch=0)
    with pytest.raises(npyflow.Error, match="start must be at least 0, not -1"):
        npyflow.Dataset(rows_file, start=-1)
    with pytest.raises(npyflow.Error, match="start 2000 is past the 1000 rows"):
        npyflow.Dataset(rows_file, start=2000)
    np.save(tmp_path / "y.npy", np.zeros(5, np.int64))
    with pytest.raises(npyflow.Error, match="labels .*y.npy: 5 rows, but the dataset has 1000"):
        npyflow.Dataset(rows_file, labels=tmp_path / "y.npy")
    with pytest.raises(npyflow.Error, match="expected a path or a list of paths"):
        npyflow.Dataset(42)


def test_memory_stays_bounded_on_a_file_larger_than_what_is_held(tmp_path):
    """A 600 MB file read whole by a pass: the pipeline's batches and the input pages read
    ahead and released behind, never the file."""
    rows = 600_000
    path = tmp_path / "big.npy"
    header = np.lib.format
    with open(path, "wb") as f:
        header.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (rows, 1000)})
        chunk = np.arange(1000, dtype=np.uint8)[None, :].repeat(10_000, axis=0)
        for _ in range(rows // 10_000):
            f.write(chunk.tobytes())

    def rss():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))

    before, peak, total = rss(), 0, 0
    for x in npyflow.Dataset(path, batch=1000, prefetch=2, threads=2):
        total += len(x)
        peak = max(peak, rss())
    assert total == rows
    # 2 batches in the pipeline and 2 ready (1 MB each), two 64 MB read-ahead windows.
    assert peak - before < 250e6, f"RSS grew {(peak - before) / 1e6:.0f} MB reading a 600 MB file"


def test_hostile_uses_are_refused_with_their_reason(rows_file, tmp_path):
    import threading
    import warnings

    # One iterator read by several threads at once: refused, never a crash.
    it = iter(npyflow.Dataset(rows_file, batch=5))
    errors, seen = [], []

    def read():
        try:
            for b in it:
                seen.append(len(b))
        except npyflow.Error as e:
            errors.append(str(e))

    threads = [threading.Thread(target=read) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert all("being read by another thread; give each thread its own iter(dataset)" in e for e in errors)
    assert sum(seen) <= N
    # Threads beyond the CPUs are lowered, with a warning; the pass is whole.
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert sum(len(b) for b in npyflow.Dataset(rows_file, batch=100, threads=4096)) == N
    assert any("more than the" in str(x.message) and "CPUs" in str(x.message) for x in w)
    # NaN is no JSON a spec file could hold.
    with pytest.raises(npyflow.Error, match="spec: not JSON a spec file could hold"):
        npyflow.Dataset(rows_file, spec=[{"op": "scale", "factor": float("nan")}])
    # A labels file truncated under the pass: an error naming it, not labels of zero.
    np.save(tmp_path / "x.npy", np.zeros((400_000, 1), np.uint8))
    np.save(tmp_path / "y.npy", np.arange(1, 400_001))
    with pytest.raises(npyflow.Error, match="y.npy: the file was truncated while being read"):
        for j, (x, y) in enumerate(npyflow.Dataset(tmp_path / "x.npy", labels=tmp_path / "y.npy", batch=4000,
                                                   prefetch=1)):
            assert (y > 0).all()
            if j == 1:
                os.truncate(tmp_path / "y.npy", 128 + 8 * 20_000)
