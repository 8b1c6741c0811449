#!/usr/bin/python3
"""`mpirun -np P npyflow score/preprocess/concat`, as a user runs them on one machine.

- 1, 2 and 3 ranks write outputs byte-identical to one process (10,007 rows: uneven shares),
  for score (with --labels: the same accuracy line) and preprocess; more ranks than rows.
- --output-shards: each shard holds exactly rows [r*N/P, (r+1)*N/P); `npyflow concat` of the
  shards is byte-identical to one process's output. concat alone matches numpy.
- A failure on one rank stops every rank and is reported once, naming the rank: bad weights
  at setup; a file-size limit on the last rank mid-run (MPMD launch), after which --resume on
  3 ranks finishes byte-identical; a shard that cannot be created.
- Commands that do not split their work (inspect) refuse to run under mpirun.

usage: test_mpi_cli.py [--list | --case NAME] NPYFLOW_BINARY MPIEXEC EXAMPLES_DIR
(one CTest a case, see tests/cli_cases.py)
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cli_cases  # noqa: E402
from cli_cases import case, check  # noqa: E402


def draw_inputs(tmp):
    """The jobs' input, 10,007 random 28x28 uint8 images (uneven shares on 2 and 3 ranks), and
    their labels, saved in tmp; the same arrays for every case. Returns their paths."""
    rng = np.random.default_rng(4)
    images = os.path.join(tmp, "images.npy")
    np.save(images, rng.integers(0, 256, (10_007, 28, 28), dtype=np.uint8))
    labels = os.path.join(tmp, "labels.npy")
    np.save(labels, rng.integers(0, 10, 10_007).astype(np.int64))
    return images, labels


def one_process_reference(tmp, images):
    """What one process writes for images: tmp/ref.npy."""
    ref = os.path.join(tmp, "ref.npy")
    r = run(score([images], ref))
    check(r.returncode == 0, f"one process (the reference): {r.stderr}")
    return ref


def run(args, ranks=None, timeout=300):
    cmd = [NPYFLOW, *args] if ranks is None else [*LAUNCH, "-np", str(ranks), NPYFLOW, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def mpmd(*parts, timeout=300):
    """mpirun -np 2 A : -np 1 B: a different command line for some ranks."""
    cmd = list(LAUNCH)
    for i, (count, argv) in enumerate(parts):
        cmd += ([":"] if i else []) + ["-np", str(count), *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def errors(stderr):
    return [line for line in stderr.splitlines() if line.startswith("npyflow: error:")]


def score(inputs, out, *extra):
    return ["score", *inputs, "-o", out, "--model", MODEL, "--weights", WEIGHTS, *extra]


@case
def test_ranks_match_one_process(tmp):
    images, labels = draw_inputs(tmp)
    ref = os.path.join(tmp, "ref.npy")
    one = run(score([images], ref, "--labels", labels))
    check(one.returncode == 0, f"one process: {one.stderr}")
    for ranks in (1, 2, 3):
        out = os.path.join(tmp, f"score{ranks}.npy")
        r = run(score([images], out, "--labels", labels, "--threads", "1"), ranks=ranks)
        check(r.returncode == 0, f"{ranks} ranks: exit {r.returncode}: {r.stderr}")
        check(same_bytes(out, ref), f"{ranks} ranks: output differs from one process's")
        check(r.stdout == one.stdout, f"{ranks} ranks: accuracy {r.stdout!r}, one process {one.stdout!r}")
        if ranks > 1:
            check(f"score on {ranks} ranks, 10007 rows" in r.stderr and "slowest: rank" in r.stderr
                  and r.stderr.count("npyflow: score on") == 1, f"{ranks} ranks: no one summary: {r.stderr}")
        check(not [f for f in os.listdir(tmp) if f.startswith(os.path.basename(out) + ".")],
              f"{ranks} ranks: a partial file or journal was left")

    spec = os.path.join(tmp, "pre.json")
    with open(spec, "w") as f:
        f.write('{"preprocess": [{"op": "cast", "dtype": "float32"}, {"op": "scale", "factor": 0.5}]}')
    pre_ref = os.path.join(tmp, "pre_ref.npy")
    check(run(["preprocess", images, "-o", pre_ref, "--spec", spec]).returncode == 0, "preprocess reference")
    for ranks in (2, 3):
        out = os.path.join(tmp, f"pre{ranks}.npy")
        r = run(["preprocess", images, "-o", out, "--spec", spec, "--batch", "100"], ranks=ranks)
        check(r.returncode == 0 and same_bytes(out, pre_ref), f"preprocess on {ranks} ranks: {r.stderr}")


# --stats and --trace per rank: the trace file's name gets the rank.
@case
def test_stats_and_trace_per_rank(tmp):
    images, _ = draw_inputs(tmp)
    trace = os.path.join(tmp, "trace.json")
    r = run(score([images], os.path.join(tmp, "traced.npy"), "--stats", "--trace", trace), ranks=2)
    check(r.returncode == 0 and "rank 0 of 2:" in r.stderr and "rank 1 of 2:" in r.stderr
          and r.stderr.count("bottleneck:") == 2, f"--stats on 2 ranks: {r.stderr}")
    for k in (0, 1):
        path = os.path.join(tmp, f"trace.rank{k}.json")
        with open(path) as f:
            events = json.load(f)["traceEvents"]
        check(any(e.get("name") == "infer" for e in events), f"{path}: no inference spans")


# More ranks than rows: some shares are empty.
@case
def test_more_ranks_than_rows(tmp):
    images, _ = draw_inputs(tmp)
    two = os.path.join(tmp, "two.npy")
    np.save(two, np.load(images)[:2])
    ref2, out2 = os.path.join(tmp, "two_ref.npy"), os.path.join(tmp, "two_out.npy")
    check(run(score([two], ref2)).returncode == 0, "two rows, one process")
    r = run(score([two], out2), ranks=3)
    check(r.returncode == 0 and same_bytes(out2, ref2), f"two rows on 3 ranks: {r.stderr}")


@case
def test_shards_and_concat(tmp):
    images, _ = draw_inputs(tmp)
    ref = one_process_reference(tmp, images)
    out = os.path.join(tmp, "shard.npy")
    r = run(score([images], out, "--output-shards"), ranks=3)
    check(r.returncode == 0, f"shards: {r.stderr}")
    shards = [os.path.join(tmp, f"shard-{k:05}-of-00003.npy") for k in range(3)]
    whole = np.load(ref)
    n = len(whole)
    for k, path in enumerate(shards):
        rows = np.load(path)
        check(np.array_equal(rows, whole[k * n // 3:(k + 1) * n // 3]), f"shard {k} is not rows [{k}N/3, {k + 1}N/3)")
    joined = os.path.join(tmp, "joined.npy")
    r = run(["concat", *shards, "-o", joined])
    check(r.returncode == 0 and same_bytes(joined, ref), f"concat of the shards: {r.stderr}")


# concat on its own: any files of one dtype and row shape, byte orders mixed.
@case
def test_concat_of_files(tmp):
    a = np.arange(12, dtype="<i4").reshape(4, 3)
    b = np.arange(100, 106, dtype=">i4").reshape(2, 3)
    pa, pb, pc = (os.path.join(tmp, name) for name in ("a.npy", "b.npy", "c.npy"))
    np.save(pa, a)
    np.save(pb, b)
    r = run(["concat", pa, pb, "-o", pc])
    check(r.returncode == 0 and np.array_equal(np.load(pc), np.concatenate([a, b])) and np.load(pc).dtype == "<i4",
          f"concat of two files: {r.stderr}")
    np.save(pb, b.astype(np.float32))
    r = run(["concat", pa, pb, "-o", pc])
    check(r.returncode == 1 and "b.npy: rows are float32 (3,), but" in r.stderr, f"concat of mismatched files: {r.stderr}")


# Bad weights on rank 2 only: every rank stops at setup, one message, no output.
@case
def test_bad_weights_on_one_rank(tmp):
    images, _ = draw_inputs(tmp)
    bad = os.path.join(tmp, "bad.npz")
    with open(WEIGHTS, "rb") as f:
        data = f.read()
    with open(bad, "wb") as f:
        f.write(data[:1000])
    out = os.path.join(tmp, "bad_out.npy")
    r = mpmd((2, [NPYFLOW, *score([images], out)]),
             (1, [NPYFLOW, "score", images, "-o", out, "--model", MODEL, "--weights", bad]))
    check(r.returncode != 0, "bad weights on one rank: the job succeeded")
    check(errors(r.stderr) == [f"npyflow: error: rank 2: {bad}: not a zip archive or truncated: no end of central "
                               "directory record"], f"bad weights on one rank: {errors(r.stderr)}")
    check(not [f for f in os.listdir(tmp) if f.startswith("bad_out")], "bad weights: files left behind")


# The last rank's writes cross a file-size limit mid-run: every rank stops, the job resumes.
@case
def test_file_size_limit_on_one_rank(tmp):
    images, _ = draw_inputs(tmp)
    ref = one_process_reference(tmp, images)
    out = os.path.join(tmp, "limited.npy")
    limit_blocks = (128 + 8000 * 40) // 1024  # the output's first ~8000 rows fit
    args = score([images], out, "--batch", "64", "--threads", "1")
    r = mpmd((2, [NPYFLOW, *args]), (1, ["bash", "-c", f'ulimit -f {limit_blocks}; exec "$0" "$@"', NPYFLOW, *args]))
    check(r.returncode != 0, "file-size limit on rank 2: the job succeeded")
    errs = errors(r.stderr)
    check(len(errs) == 2 and errs[0].startswith("npyflow: error: rank 2: stage 'write' failed on")
          and "limited.npy.partial: cannot write: File too large" in errs[0] and "--resume" in errs[1],
          f"file-size limit on rank 2: {errs}")
    check(not os.path.exists(out), "a failed distributed job left its output at the real name")
    check(len([f for f in os.listdir(tmp) if f.startswith("limited.npy.rank")]) == 3, "journals were not kept")
    r = run(args + ["--resume"], ranks=3)
    check(r.returncode == 0 and same_bytes(out, ref), f"resume on 3 ranks: {r.stderr}")
    check(not [f for f in os.listdir(tmp) if f.startswith("limited.npy.")], "resumed job left journals")


# Rank 1's shard cannot be created: every rank checks every shard's names before any
# rank writes, so the job stops before it starts, reported once.
@case
def test_blocked_shard(tmp):
    images, _ = draw_inputs(tmp)
    os.makedirs(os.path.join(tmp, "blocked-00001-of-00003.npy.partial"))
    r = run(score([images], os.path.join(tmp, "blocked.npy"), "--output-shards"), ranks=3)
    check(r.returncode != 0 and errors(r.stderr) == [
        f"npyflow: error: rank 0: partial output {tmp}/blocked-00001-of-00003.npy.partial: exists and is a "
        "directory; npyflow writes its temporary files only as regular files it creates; remove it"],
        f"blocked shard: {errors(r.stderr)}")
    check(not [f for f in os.listdir(tmp) if f.startswith("blocked-") and f.endswith(".partial") and
               not os.path.isdir(os.path.join(tmp, f))], "a rank wrote a shard although the job was refused")
    check(not [f for f in os.listdir(tmp) if f.startswith("blocked-") and f.endswith(".npy")],
          "a shard was renamed into place although rank 1 failed")


@case
def test_inspect_refuses_mpirun(tmp):
    images, _ = draw_inputs(tmp)
    r = run(["inspect", images], ranks=2)
    check(r.returncode != 0 and errors(r.stderr) == [
        "npyflow: error: rank 0: npyflow inspect runs in one process, not across 2 MPI ranks; run it without mpirun"],
        f"inspect under mpirun: {r.stderr}")


def setup(npyflow, mpiexec, examples):
    global NPYFLOW, MODEL, WEIGHTS, LAUNCH
    NPYFLOW = npyflow
    MODEL = os.path.join(examples, "fashion_mnist", "cnn.json")
    WEIGHTS = os.path.join(examples, "fashion_mnist", "cnn.npz")
    LAUNCH = [mpiexec, "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])


if __name__ == "__main__":
    sys.exit(cli_cases.main(setup))
