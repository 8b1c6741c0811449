"""npyflow.Model: predict equals the CLI's output bit for bit, any batch and threads; the
summary is score --dry-run's; errors carry the CLI's messages; the GIL is released; no leak."""

import threading

import numpy as np
import pytest

import npyflow
from conftest import FASHION, bits, images, run_cli

CNN = (FASHION / "cnn.json", FASHION / "cnn.npz")
MLP = (FASHION / "mlp.json", FASHION / "mlp.npz")


@pytest.fixture(scope="module")
def cnn():
    return npyflow.Model(*CNN)


@pytest.mark.parametrize("kind", ["logits", "probs", "argmax"])
def test_predict_equals_the_cli_bit_for_bit(tmp_path, cnn, kind):
    x = images(1000, seed=1)
    np.save(tmp_path / "x.npy", x)
    run_cli("score", tmp_path / "x.npy", "-o", tmp_path / "cli.npy", "--model", CNN[0], "--weights", CNN[1],
            "--output-kind", kind, "-q")
    cli = np.load(tmp_path / "cli.npy")
    got = cnn.predict(x, output=kind)
    assert got.dtype == cli.dtype and got.shape == cli.shape
    assert np.array_equal(bits(got), bits(cli))


@pytest.mark.parametrize("batch,threads", [(1, 1), (7, 2), (64, 1), (1000, 2), (4096, 2)])
def test_predict_is_the_same_for_any_batch_and_threads(cnn, batch, threads):
    x = images(300, seed=2)
    model = npyflow.Model(*CNN, threads=threads)
    assert np.array_equal(bits(model.predict(x, batch=batch)), bits(cnn.predict(x)))


def test_predict_takes_any_layout_numpy_has(cnn):
    x = images(200, seed=3)
    want = cnn.predict(x)
    assert np.array_equal(bits(cnn.predict(np.asfortranarray(x))), bits(want))
    assert np.array_equal(bits(cnn.predict(x.astype(">u1"))), bits(want))
    # Every other row of a larger array: a strided view, converted.
    wide = np.repeat(x, 2, axis=0)
    assert np.array_equal(bits(cnn.predict(wide[::2])), bits(want))
    # float32 already scaled is not what the spec's ops take: they cast and scale again, so
    # the same values as float32 give the same outputs.
    assert np.array_equal(bits(cnn.predict(x.astype(np.float32))), bits(want))


def test_predict_matches_pytorch_accuracy_on_the_mlp():
    model = npyflow.Model(*MLP)
    assert model.input_shape == [1, 28, 28]
    assert model.output_shape == [10]
    out = model.predict(images(5))
    assert out.shape == (5, 10) and out.dtype == np.float32
    probs = model.predict(images(5), output="probs")
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-6)
    classes = model.predict(images(5), output="argmax")
    assert classes.dtype == np.int64 and np.array_equal(classes, out.argmax(axis=1))


def test_summary_is_the_dry_run_table(cnn):
    dry = run_cli("score", "--dry-run", "--model", CNN[0], "--weights", CNN[1])
    assert cnn.summary() == dry.stdout
    assert "conv2d" in cnn.summary() and "total: " in cnn.summary()
    assert "cnn.json" in repr(cnn)


def test_errors_are_npyflow_errors_with_the_cli_messages(tmp_path, cnn):
    assert issubclass(npyflow.Error, ValueError)
    with pytest.raises(npyflow.Error, match="cnn.json: preprocess\\[3\\] \\(reshape\\): cannot reshape samples "
                                            "\\(27, 27\\) \\(729 values\\) to \\(1, 28, 28\\)"):
        cnn.predict(np.zeros((2, 27, 27), np.uint8))
    with pytest.raises(npyflow.Error, match="numpy dtype complex64 is not one npyflow reads"):
        cnn.predict(np.zeros((2, 28, 28), np.complex64))
    with pytest.raises(npyflow.Error, match="a 0-d array holds no rows"):
        cnn.predict(np.float32(1))
    with pytest.raises(npyflow.Error, match='"logits", "probs" or "argmax"|logits, probs'):
        cnn.predict(images(2), output="softmax")
    with pytest.raises(npyflow.Error, match="batch must be at least 1, not 0"):
        cnn.predict(images(2), batch=0)
    with pytest.raises(npyflow.Error, match="threads must be at least 1, not 0"):
        npyflow.Model(*CNN, threads=0)
    with pytest.raises(npyflow.Error, match="missing.npz"):
        npyflow.Model(CNN[0], tmp_path / "missing.npz")
    with pytest.raises(npyflow.Error, match="is an .npz archive|--model takes the npyflow spec"):
        npyflow.Model(CNN[1], CNN[1])
    with pytest.raises(npyflow.Error, match="expected a path"):
        npyflow.Model(3, CNN[1])


def test_unused_arrays_warn_and_strict_refuses(tmp_path):
    arrays = dict(np.load(MLP[1]))
    arrays["extra"] = np.zeros(3, np.float32)
    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.warns(UserWarning, match="extra"):
        model = npyflow.Model(MLP[0], tmp_path / "w.npz")
    assert any("extra" in w for w in model.warnings)
    with pytest.raises(npyflow.Error, match="extra"):
        npyflow.Model(MLP[0], tmp_path / "w.npz", strict=True)


def test_predict_releases_the_gil(cnn):
    x = images(20000, seed=4)
    done = threading.Event()
    ticks = 0

    def run():
        cnn.predict(x)
        done.set()

    worker = threading.Thread(target=run)
    worker.start()
    while not done.is_set():
        ticks += 1  # runs only while predict does not hold the GIL
    worker.join()
    assert ticks > 1000


def test_no_leak_over_1000_models():
    def rss():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))

    x = images(4)
    for _ in range(100):  # allocators and oneDNN's caches settle
        npyflow.Model(*MLP).predict(x)
    before = rss()
    for _ in range(1000):
        npyflow.Model(*MLP).predict(x)
    grown = rss() - before
    # A leaked model would hold its 0.4 MB of weights: 1000 of them, 400 MB.
    assert grown < 20e6, f"RSS grew {grown / 1e6:.1f} MB over 1000 models"


def test_inputs_numpy_cannot_make_raise_numpys_error(cnn):
    with pytest.raises(MemoryError):  # its C-order copy cannot be allocated
        cnn.predict(np.broadcast_to(np.zeros((1, 28, 28), np.uint8), (10**9, 28, 28)))
    with pytest.raises(ValueError, match="inhomogeneous"):
        cnn.predict([[1, 2], [3]])
