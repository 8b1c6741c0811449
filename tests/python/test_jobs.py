"""npyflow.score and npyflow.preprocess: the CLI's jobs, their files equal to the CLI's to the
byte, their reports as dicts; Ctrl-C stops a job (or predict) cleanly, keeping what resume
finishes; the jobs' guards refuse what the CLI refuses."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import npyflow
from conftest import FASHION, images, run_cli

CNN = (FASHION / "cnn.json", FASHION / "cnn.npz")


def test_score_writes_the_cli_file_and_reports(tmp_path):
    np.save(tmp_path / "x.npy", images(2000, seed=5))
    labels = np.random.default_rng(0).integers(0, 10, 2000)
    np.save(tmp_path / "y.npy", labels)
    run_cli("score", tmp_path / "x.npy", "-o", tmp_path / "cli.npy", "--model", CNN[0], "--weights", CNN[1], "-q")
    report = npyflow.score(tmp_path / "x.npy", tmp_path / "py.npy", *CNN, labels=tmp_path / "y.npy", threads=2,
                           batch=300)
    assert (tmp_path / "py.npy").read_bytes() == (tmp_path / "cli.npy").read_bytes()
    assert report["rows"] == report["dataset_rows"] == 2000
    assert report["output_shape"] == (2000, 10)
    assert report["rows_per_second"] > 0 and report["seconds"] > 0 and report["peak_rss_bytes"] > 0
    predicted = np.load(tmp_path / "cli.npy").argmax(axis=1)
    assert report["correct"] == int((predicted == labels).sum())
    assert report["accuracy"] == pytest.approx(report["correct"] / 2000)
    assert report["inference"].startswith(("streams", "parallel"))
    assert not os.path.exists(tmp_path / "py.npy.partial")


def test_preprocess_writes_the_cli_file(tmp_path):
    np.save(tmp_path / "a.npy", images(300, seed=6))
    np.save(tmp_path / "b.npy", images(200, seed=7))
    inputs = [tmp_path / "a.npy", tmp_path / "b.npy"]
    run_cli("preprocess", *inputs, "-o", tmp_path / "cli.npy", "--spec", CNN[0], "-q")
    report = npyflow.preprocess(inputs, tmp_path / "py.npy", CNN[0], batch=64)
    assert (tmp_path / "py.npy").read_bytes() == (tmp_path / "cli.npy").read_bytes()
    assert report["rows"] == 500 and report["output_shape"] == (500, 1, 28, 28)
    concat = npyflow.preprocess(inputs, tmp_path / "concat.npy")
    assert concat["output_shape"] == (500, 28, 28)
    assert np.array_equal(np.load(tmp_path / "concat.npy"), np.concatenate([images(300, 6), images(200, 7)]))


def test_job_errors_are_the_cli_messages(tmp_path):
    np.save(tmp_path / "x.npy", images(10))
    before = (tmp_path / "x.npy").read_bytes()
    with pytest.raises(npyflow.Error, match="x.npy"):
        npyflow.score(tmp_path / "x.npy", tmp_path / "x.npy", *CNN)
    assert (tmp_path / "x.npy").read_bytes() == before
    with pytest.raises(npyflow.Error, match="output kind|logits"):
        npyflow.score(tmp_path / "x.npy", tmp_path / "o.npy", *CNN, output_kind="scores")
    with pytest.raises(npyflow.Error, match='inference must be "auto", "streams" or "parallel"'):
        npyflow.score(tmp_path / "x.npy", tmp_path / "o.npy", *CNN, inference="gpu")
    with pytest.raises(npyflow.Error, match="checkpoint_every must be a number of seconds from 0.001 to 86400"):
        npyflow.preprocess(tmp_path / "x.npy", tmp_path / "o.npy", checkpoint_every=0)
    with pytest.raises(npyflow.Error, match="missing.npy"):
        npyflow.preprocess(tmp_path / "missing.npy", tmp_path / "o.npy")
    assert not (tmp_path / "o.npy").exists()


# A script that runs one call and reports how it ended: the test sends it SIGINT.
RUNNER = textwrap.dedent("""
    import sys, numpy as np, npyflow
    what, x, out, spec, weights = sys.argv[1:6]
    try:
        if what == "score":
            npyflow.score(x, out, spec, weights, threads=2, checkpoint_every=0.05)
        else:
            npyflow.Model(spec, weights, threads=2).predict(np.load(x, mmap_mode="r"), batch=256)
        print("finished", flush=True)
    except KeyboardInterrupt as e:
        print("interrupted:", e, flush=True)
        sys.exit(130)
""")


def interrupted(tmp_path, what, rows):
    x = tmp_path / "big.npy"
    if not x.exists():
        np.save(x, np.repeat(images(1000, seed=8), rows // 1000, axis=0))
    (tmp_path / "runner.py").write_text(RUNNER)
    proc = subprocess.Popen([sys.executable, tmp_path / "runner.py", what, x, tmp_path / "out.npy", *CNN],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
    time.sleep(2.5)  # import, build the model, get going
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_ctrl_c_stops_a_score_job_and_resume_finishes_it(tmp_path):
    code, out, err = interrupted(tmp_path, "score", 400_000)
    assert code == 130, (out, err)
    assert out.startswith("interrupted:")
    partial = tmp_path / "out.npy.partial"
    if partial.exists():  # rows were written: kept, and the message says how to resume
        assert "out.npy.partial" in out and "resume" in out
    assert not (tmp_path / "out.npy").exists()
    report = npyflow.score(tmp_path / "big.npy", tmp_path / "out.npy", *CNN, resume=True, threads=2)
    assert report["rows"] <= 400_000
    run_cli("score", tmp_path / "big.npy", "-o", tmp_path / "cli.npy", "--model", CNN[0], "--weights", CNN[1], "-q")
    assert (tmp_path / "out.npy").read_bytes() == (tmp_path / "cli.npy").read_bytes()


def test_ctrl_c_stops_predict(tmp_path):
    code, out, err = interrupted(tmp_path, "predict", 1_000_000)
    assert code == 130, (out, err)
    assert out.startswith("interrupted:")
