#!/usr/bin/python3
"""Crash-safe, resumable jobs: `npyflow score/preprocess --resume`, as a user runs them.

- A score job SIGKILLed at 20 random moments and resumed each time ends with an output
  byte-identical to an uninterrupted run (and the same --labels accuracy); the same for
  preprocess with 8 kills. The journal's row count never goes back.
- SIGTERM checkpoints and exits 130; the job then resumes.
- A full disk (a file-size limit, RLIMIT_FSIZE) gives a clear error, keeps the journal
  consistent, and the job resumes once the limit is gone.
- An input truncated while the job reads it gives an error naming the file, never SIGBUS.
- Resuming refuses a changed input, spec, weights or option, naming what changed; a leftover
  journal without --resume, a corrupt journal and a missing partial file each say what to do.
- Resuming with another --weights-key of the same checkpoint is refused.

usage: test_resume_cli.py [--list | --case NAME] NPYFLOW_BINARY EXAMPLES_DIR
(one CTest a case, see tests/cli_cases.py; each case draws the inputs it needs, the same arrays
for every case)
"""
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cli_cases  # noqa: E402
from cli_cases import case, check, skip  # noqa: E402

# PyTorch's weights as users save them (tests/nn/fixtures/formats, committed).
NN_FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nn", "fixtures")
WEIGHT_FORMATS = os.path.join(NN_FIXTURES, "formats")


def draw_inputs(tmp, *names):
    """The jobs' inputs, saved in tmp: "images" (250,000 random 28x28 uint8), "labels" (one a
    row) and "small" (200,000 x 64 float32). They are drawn in that order from one generator,
    whichever are asked for, so every case gets the same arrays. Returns the paths of those
    asked for."""
    rng = np.random.default_rng(3)
    arrays = {"images": rng.integers(0, 256, (250_000, 28, 28), dtype=np.uint8)}
    arrays["labels"] = rng.integers(0, 10, 250_000).astype(np.int64)
    if "small" in names:  # drawn last: the others need not wait for it
        arrays["small"] = rng.standard_normal((200_000, 64)).astype(np.float32)
    paths = []
    for name in names:
        paths.append(os.path.join(tmp, name + ".npy"))
        np.save(paths[-1], arrays[name])
    return paths[0] if len(paths) == 1 else paths


def run(args, **kw):
    return subprocess.run([NPYFLOW, *args], capture_output=True, text=True, timeout=600, **kw)


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def journal_rows(out):
    try:
        with open(out + ".journal") as f:
            return json.load(f)["rows_done"]
    except FileNotFoundError:
        return None


def wait_for(path, proc, seconds=60):
    deadline = time.time() + seconds
    while not os.path.exists(path) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    return os.path.exists(path)


def kill_and_resume(args, out, kills, max_delay, seed):
    """Starts the job, SIGKILLs it after a random delay, `kills` times, resuming each time;
    then lets it finish. Returns the last run's result and the journal's rows seen after each kill."""
    rng = random.Random(seed)
    seen = []
    for i in range(kills):
        p = subprocess.Popen([NPYFLOW, *args, "--resume", "--checkpoint-every", "0.05"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0, max_delay))
        p.send_signal(signal.SIGKILL)
        _, err = p.communicate()
        if p.returncode == 0:  # finished before the kill: nothing more to interrupt
            break
        check(p.returncode == -signal.SIGKILL, f"kill {i}: exit {p.returncode}: {err}")
        check(not os.path.exists(out), f"kill {i}: a killed job left {out} at its real name")
        seen.append(journal_rows(out))
    final = run([*args, "--resume"])
    check(final.returncode == 0, f"final resume: exit {final.returncode}: {final.stderr}")
    rows = [r for r in seen if r is not None]
    check(rows == sorted(rows), f"journal went back: {seen}")
    check(not os.path.exists(out + ".journal") and not os.path.exists(out + ".partial"),
          "a finished job left its journal or partial file")
    return final, seen


def score_args(inputs, out, *extra):
    return ["score", *inputs, "-o", out, "--model", MODEL, "--weights", WEIGHTS, *extra]


@case
def test_kill_score(tmp):
    images, labels = draw_inputs(tmp, "images", "labels")
    ref = os.path.join(tmp, "score_ref.npy")
    r = run(score_args([images], ref, "--labels", labels, "--threads", "2"))
    check(r.returncode == 0, f"reference score: {r.stderr}")
    out = os.path.join(tmp, "score_killed.npy")
    # One thread, so the job is long enough for every kill to land inside it.
    final, seen = kill_and_resume(score_args([images], out, "--labels", labels, "--threads", "1", "--batch", "512"),
                                  out, kills=20, max_delay=0.6, seed=7)
    print(f"score: journal rows after each kill: {seen}")
    check(sum(1 for r in seen if r) >= 10, f"too few kills found a journal to resume from: {seen}")
    check(same_bytes(out, ref), "score output after 20 kills differs from the uninterrupted run")
    check(final.stdout == r.stdout, f"accuracy after resuming: {final.stdout!r}, uninterrupted: {r.stdout!r}")
    check("resumed at row" in final.stderr, f"the last run did not say it resumed: {final.stderr}")


@case
def test_kill_preprocess(tmp):
    images = draw_inputs(tmp, "images")
    spec = os.path.join(tmp, "pre.json")
    with open(spec, "w") as f:
        json.dump({"preprocess": [{"op": "cast", "dtype": "float32"}, {"op": "scale", "factor": 0.25},
                                  {"op": "transpose", "axes": [1, 0]}]}, f)
    ref = os.path.join(tmp, "pre_ref.npy")
    r = run(["preprocess", images, "-o", ref, "--spec", spec])
    check(r.returncode == 0, f"reference preprocess: {r.stderr}")
    out = os.path.join(tmp, "pre_killed.npy")
    _, seen = kill_and_resume(["preprocess", images, "-o", out, "--spec", spec, "--threads", "1", "--batch", "256"],
                              out, kills=8, max_delay=0.25, seed=11)
    print(f"preprocess: journal rows after each kill: {seen}")
    check(same_bytes(out, ref), "preprocess output after 8 kills differs from the uninterrupted run")


@case
def test_sigterm_checkpoints(tmp):
    images = draw_inputs(tmp, "images")
    ref = os.path.join(tmp, "term_ref.npy")
    check(run(score_args([images], ref)).returncode == 0, "reference for SIGTERM")
    out = os.path.join(tmp, "term.npy")
    p = subprocess.Popen([NPYFLOW, *score_args([images], out, "--threads", "1", "--checkpoint-every", "0.05")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    check(wait_for(out + ".journal", p), "no journal appeared before SIGTERM")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate()
    check(p.returncode == 130, f"SIGTERM: exit {p.returncode}: {err}")
    check("kept in" in err and "--resume" in err, f"SIGTERM message does not say how to resume: {err}")
    check(journal_rows(out) and journal_rows(out) > 0, "SIGTERM left no checkpoint")
    r = run(score_args([images], out, "--resume"))
    check(r.returncode == 0 and same_bytes(out, ref), f"resume after SIGTERM: {r.stderr}")


@case
def test_full_disk(tmp):
    """The output cannot grow past a file-size limit, as on a full disk; the job resumes once it is lifted."""
    small = draw_inputs(tmp, "small")
    spec = os.path.join(tmp, "cast.json")
    with open(spec, "w") as f:
        json.dump({"preprocess": [{"op": "cast", "dtype": "float64"}]}, f)
    ref = os.path.join(tmp, "disk_ref.npy")
    check(run(["preprocess", small, "-o", ref, "--spec", spec]).returncode == 0, "reference for the full disk")
    out = os.path.join(tmp, "disk.npy")
    limit = os.path.getsize(ref) // 3

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = run(["preprocess", small, "-o", out, "--spec", spec, "--checkpoint-every", "0.01", "--threads", "1"],
            preexec_fn=limited)
    check(r.returncode == 1, f"full disk: exit {r.returncode}: {r.stderr}")
    check("cannot write: File too large" in r.stderr and "disk.npy.partial" in r.stderr,
          f"full disk: the error does not name the file and the cause: {r.stderr}")
    check(r.stderr.count("npyflow: error:") == 2 and "kept in" in r.stderr and "--resume" in r.stderr,
          f"full disk: no word on what was kept: {r.stderr}")
    rows = journal_rows(out)
    row_bytes = 64 * 8
    check(rows is not None and 0 < rows and rows * row_bytes < limit,
          f"full disk: the journal claims {rows} rows, more than fit under the limit")
    r = run(["preprocess", small, "-o", out, "--spec", spec, "--resume"])
    check(r.returncode == 0 and same_bytes(out, ref), f"resume after the full disk: {r.stderr}")


@case
def test_truncated_input(tmp):
    images = draw_inputs(tmp, "images")
    victim = os.path.join(tmp, "shrinking.npy")
    with open(images, "rb") as src, open(victim, "wb") as dst:
        dst.write(src.read())
    out = os.path.join(tmp, "trunc.npy")
    p = subprocess.Popen([NPYFLOW, *score_args([victim], out, "--threads", "1", "--checkpoint-every", "0.05")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    check(wait_for(out + ".journal", p), "no journal before truncating the input")
    os.truncate(victim, os.path.getsize(victim) // 2)
    _, err = p.communicate()
    check(p.returncode == 1, f"truncated input: exit {p.returncode} (SIGBUS is {-signal.SIGBUS}): {err}")
    check("shrinking.npy: the file was truncated while being read" in err, f"truncated input: {err}")
    check(not os.path.exists(out), "a truncated input left an output at its real name")
    # Its journal is kept, but the input is no longer whole: resuming is refused, naming it.
    r = run(score_args([victim], out, "--resume"))
    check(r.returncode == 1 and "shrinking.npy: data is shorter than the shape declares" in r.stderr,
          f"resume with the truncated input: {r.stderr}")


def interrupted_job(tmp, name, images, *extra):
    """A score job SIGKILLed after its first checkpoint: its output path."""
    out = os.path.join(tmp, name)
    p = subprocess.Popen([NPYFLOW, *score_args([images], out, "--threads", "1", "--checkpoint-every", "0.05", *extra)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check(wait_for(out + ".journal", p), f"{name}: no journal")
    p.kill()
    p.wait()
    return out


@case
def test_refusals(tmp):
    images, labels = draw_inputs(tmp, "images", "labels")
    out = interrupted_job(tmp, "left.npy", images)
    r = run(score_args([images], out))
    check(r.returncode == 1 and "an earlier run" in r.stderr and "--resume" in r.stderr
          and "delete both files" in r.stderr, f"leftover journal without --resume: {r.stderr}")

    r = run(score_args([images], out, "--resume", "--output-kind", "probs"))
    check(r.returncode == 1 and "option --output: \"logits\" -> \"probs\"" in r.stderr,
          f"changed --output: {r.stderr}")
    r = run(score_args([images], out, "--resume", "--labels", labels))
    check(r.returncode == 1 and "labels" in r.stderr and "not part of the journaled job" in r.stderr,
          f"added --labels: {r.stderr}")

    other_weights = os.path.join(tmp, "other.npz")
    with np.load(WEIGHTS) as w:
        arrays = {k: w[k] for k in w.files}
    arrays["9.bias"] = arrays["9.bias"] + 1
    np.savez(other_weights, **arrays)
    r = run(["score", images, "-o", out, "--model", MODEL, "--weights", other_weights, "--resume"])
    check(r.returncode == 1 and "weights" in r.stderr and "other.npz" in r.stderr, f"other weights: {r.stderr}")

    # Same size, new content: the hash and the modification time say so.
    changed = os.path.join(tmp, "changed.npy")
    arr = np.load(images)
    np.save(changed, arr)
    out2 = interrupted_job(tmp, "changed_out.npy", changed)
    arr[0, 0, 0] ^= 1
    np.save(changed, arr)
    r = run(score_args([changed], out2, "--resume"))
    check(r.returncode == 1 and "changed.npy: " in r.stderr and "hash" in r.stderr and "mtime" in r.stderr,
          f"changed input: {r.stderr}")

    # The same command still resumes: threads and batch size may change, they do not change the output.
    r = run(score_args([images], out, "--resume", "--threads", "2", "--batch", "100"))
    check(r.returncode == 0 and "resumed at row" in r.stderr, f"resume with other threads/batch: {r.stderr}")


@case
def test_broken_journals(tmp):
    images = draw_inputs(tmp, "images")
    out = interrupted_job(tmp, "corrupt.npy", images)
    with open(out + ".journal", "w") as f:
        f.write("{\"version\": 1, \"rows_")
    r = run(score_args([images], out, "--resume"))
    check(r.returncode == 1 and "corrupt.npy.journal: not a journal npyflow can resume from" in r.stderr,
          f"corrupt journal: {r.stderr}")

    out = interrupted_job(tmp, "nopartial.npy", images)
    os.remove(out + ".partial")
    r = run(score_args([images], out, "--resume"))
    check(r.returncode == 1 and "nopartial.npy.partial: is missing" in r.stderr, f"missing partial: {r.stderr}")

    # Killed after renaming the output into place, before removing the journal.
    out = interrupted_job(tmp, "done.npy", images)
    with open(out + ".journal") as f:
        j = json.load(f)
    j["rows_done"] = j["total_rows"]
    with open(out + ".journal", "w") as f:
        json.dump(j, f)
    os.rename(out + ".partial", out)
    r = run(score_args([images], out, "--resume"))
    check(r.returncode == 0 and "already complete" in r.stderr and not os.path.exists(out + ".journal"),
          f"journal of a finished job: {r.stderr}")


@case
def test_resumed_auto_keeps_its_way(tmp):
    """--inference auto records the way it chose in the journal; the resumed job keeps it
    rather than timing again, so all its rows come from one way."""
    if len(os.sched_getaffinity(0)) < 2:
        skip("one CPU: auto does not time, nothing to keep")
    images = draw_inputs(tmp, "images")
    ref = os.path.join(tmp, "auto_ref.npy")
    check(run(score_args([images], ref, "--threads", "2", "--inference", "streams")).returncode == 0, "auto reference")
    out = os.path.join(tmp, "auto.npy")
    p = subprocess.Popen([NPYFLOW, *score_args([images], out, "--threads", "2", "--checkpoint-every", "0.05")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60  # past timing, to a checkpoint with rows, which carries the way
    while not journal_rows(out) and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    p.communicate()
    if p.returncode == 0 or not os.path.exists(out + ".journal"):
        print("the job finished before SIGTERM: nothing to resume")
        return
    with open(out + ".journal") as f:
        way = json.load(f).get("sink_state", {}).get("inference")
    check(way in ("streams", "parallel"), f"the journal does not record auto's way: {way!r}")
    r = run(score_args([images], out, "--threads", "2", "--resume"))
    check(r.returncode == 0 and f"inference {way} (auto: as the run it resumes chose)]" in r.stderr,
          f"resumed auto job: {r.stderr!r}")
    check(same_bytes(out, ref), "resumed auto job: other bytes than --inference streams")
    print(f"auto chose {way}; the resumed job kept it")


@case
def test_resume_keeps_the_weights_key(tmp):
    """A job resumed with other arrays of the same checkpoint would mix two models' rows: the key
    is part of what a resumed job must match."""
    spec, ema = os.path.join(NN_FIXTURES, "cnn_b.spec.json"), os.path.join(WEIGHT_FORMATS, "cnn_b.ema.pth")
    out, big = os.path.join(tmp, "resumed.npy"), os.path.join(tmp, "big.npy")
    np.save(big, np.tile(np.load(os.path.join(NN_FIXTURES, "cnn_b.input.npy")), (1000, 1, 1, 1)))
    proc = subprocess.Popen([NPYFLOW, "score", big, "-o", out, "--model", spec, "--weights",
                             ema, "--weights-key", ".", "--checkpoint-every", "0.01", "--batch", "16",
                             "--threads", "1", "-q"], stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    if not os.path.exists(out + ".journal"):
        print("resume check skipped: the job ended before SIGTERM")
        return
    r = run(["score", big, "-o", out, "--model", spec, "--weights", ema, "-q", "--weights-key", "ema", "--resume"])
    check(r.returncode != 0, f"resumed with another --weights-key: exit {r.returncode}, want an error")
    check("--weights-key" in r.stderr, f"resumed with another --weights-key: stderr lacks '--weights-key': {r.stderr!r}")
    r = run(["score", big, "-o", out, "--model", spec, "--weights", ema, "-q", "--weights-key", ".", "--resume"])
    check(r.returncode == 0, f"resumed with the same key: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        want = np.tile(np.load(os.path.join(NN_FIXTURES, "cnn_b.expected.npy")), (1000, 1))
        check(float(np.abs(np.load(out) - want).max()) <= 1e-4, "the resumed job's rows differ from PyTorch's")


def setup(npyflow, examples):
    global NPYFLOW, MODEL, WEIGHTS
    NPYFLOW = npyflow
    MODEL = os.path.join(examples, "fashion_mnist", "cnn.json")
    WEIGHTS = os.path.join(examples, "fashion_mnist", "cnn.npz")


if __name__ == "__main__":
    sys.exit(cli_cases.main(setup))
