#!/usr/bin/python3
"""Careless and hostile uses of npyflow, each as a user would type it. The rule they check:
no user file is ever damaged, and exit 0 means the answer is right. Every case is a row of
the table in docs/reliability.md ("Hostile use"), named there by its function here.

Each case checks the exit code and the one error line, and that every file the job did not
own is byte for byte as it was (`untouched`).

usage: test_hostile_use.py [--list | --case NAME] NPYFLOW_BINARY EXAMPLES_DIR FIXTURES_DIR [MPIEXEC]
(one CTest a case, see tests/cli_cases.py)
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cli_cases  # noqa: E402
from cli_cases import case, check, skip  # noqa: E402


def setup(npyflow, examples, fixtures, mpiexec=None):
    global NPYFLOW, EXAMPLES, FIXTURES, MPIEXEC, MLP, CNN, SPEC
    NPYFLOW = os.path.abspath(npyflow)
    EXAMPLES = os.path.join(os.path.abspath(examples), "fashion_mnist")
    FIXTURES = os.path.abspath(fixtures)
    MPIEXEC = mpiexec
    MLP = ["--model", os.path.join(EXAMPLES, "mlp.json"), "--weights", os.path.join(EXAMPLES, "mlp.npz")]
    CNN = ["--model", os.path.join(EXAMPLES, "cnn.json"), "--weights", os.path.join(EXAMPLES, "cnn.npz")]
    SPEC = os.path.join(EXAMPLES, "mlp.json")


def draw_inputs(tmp, *names):
    """The jobs' inputs, saved in data/ beside the case's directory tmp: "img" (20,000 random
    28x28 uint8), "labels" (one a row), "big" (300,000 such images) and "empty" (0 of them).
    They are drawn in that order from one generator, whichever are asked for, so every case
    gets the same arrays. Returns the paths of those asked for."""
    rng = np.random.default_rng(17)
    data = os.path.join(os.path.dirname(tmp), "data")
    os.makedirs(data, exist_ok=True)
    files = {"img": "img.npy", "labels": "lab.npy", "big": "big.npy", "empty": "empty.npy"}
    arrays = {"img": rng.integers(0, 256, (20000, 28, 28), dtype=np.uint8)}
    arrays["labels"] = rng.integers(0, 10, 20000).astype(np.int64)
    if "big" in names:  # drawn last: the others need not wait for it
        arrays["big"] = rng.integers(0, 256, (300000, 28, 28), dtype=np.uint8)
    arrays["empty"] = np.zeros((0, 28, 28), np.uint8)
    paths = []
    for name in names:
        paths.append(os.path.join(data, files[name]))
        np.save(paths[-1], arrays[name])
    return paths[0] if len(paths) == 1 else paths


def run(*args, **kw):
    kw.setdefault("timeout", 300)
    return subprocess.run([NPYFLOW, *args], capture_output=True, text=True, errors="replace", **kw)


def errors(stderr):
    return [line for line in stderr.splitlines() if line.startswith("npyflow: error:")]


def snapshot(*dirs):
    """Every file below dirs (and the examples) with its bytes' hash; symlinks by target."""
    files = {}
    for d in (*dirs, EXAMPLES):
        for root, _, names in os.walk(d):
            for n in names:
                p = os.path.join(root, n)
                if os.path.islink(p):
                    files[p] = "-> " + os.readlink(p)
                elif os.path.isfile(p):
                    with open(p, "rb") as f:
                        files[p] = hashlib.sha256(f.read()).hexdigest()
                else:
                    files[p] = "special " + oct(os.lstat(p).st_mode)
    return files


def untouched(before, name, *owned):
    """Checks that no file in `before` changed or went, except the job's own outputs."""
    after = snapshot(*{os.path.dirname(p) for p in before})
    for path, digest in before.items():
        if path in owned:
            continue
        check(after.get(path) == digest, f"{name}: {path} was {'changed' if path in after else 'removed'}")


def refused(name, result, message, code=1):
    check(result.returncode == code, f"{name}: exit {result.returncode}, not {code}: {result.stderr[-600:]!r}")
    errs = errors(result.stderr)
    check(len(errs) >= 1 and message in errs[0], f"{name}: expected {message!r} in the first error, got {errs}")


def write_npy_header(path, descr, shape):
    """A .npy holding only a header (for shapes whose data could not exist)."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(tuple(shape)))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())


# 1. Outputs over inputs: -o, --trace and the temporaries against inputs, spec, weights, labels.
@case
def test_outputs_never_over_inputs(tmp):
    img, labels = draw_inputs(tmp, "img", "labels")
    weights = os.path.join(EXAMPLES, "mlp.npz")
    spec = os.path.join(tmp, "pre.json")
    with open(spec, "w") as f:
        json.dump({"preprocess": [{"op": "cast", "dtype": "float32"}]}, f)
    os.link(img, os.path.join(tmp, "hardlink.npy"))
    os.symlink(img, os.path.join(tmp, "symlink.npy"))
    before = snapshot(tmp)
    cases = [
        ("score -o INPUT", ["score", img, "-o", img, *MLP], "is the same file as input"),
        ("score -o WEIGHTS", ["score", img, "-o", weights, *MLP], "is the same file as --weights"),
        ("score -o LABELS", ["score", img, "-o", labels, *MLP, "--labels", labels], "is the same file as --labels"),
        ("score -o MODEL", ["score", img, "-o", SPEC, *MLP], "is the same file as --model"),
        ("preprocess -o SPEC", ["preprocess", img, "-o", spec, "--spec", spec], "is the same file as --spec"),
        ("-o a hard link to the input", ["score", img, "-o", os.path.join(tmp, "hardlink.npy"), *MLP],
         "is the same file as input"),
        ("-o a symlink to the input", ["score", img, "-o", os.path.join(tmp, "symlink.npy"), *MLP],
         "is the same file as input"),
        ("-o ./INPUT spelt differently", ["score", os.path.join(tmp, ".", "img.npy"), "-o",
                                          os.path.join(tmp, "sub", "..", "img.npy"), *MLP], "is the same file as input"),
        ("--trace INPUT", ["score", img, "-o", os.path.join(tmp, "o.npy"), *MLP, "--trace", img],
         "--trace " + img + " is the same file as input"),
        ("--trace WEIGHTS", ["score", img, "-o", os.path.join(tmp, "o.npy"), *MLP, "--trace", weights],
         "is the same file as --weights"),
        ("--trace = -o", ["score", img, "-o", os.path.join(tmp, "o.npy"), *MLP, "--trace", os.path.join(tmp, "o.npy")],
         "is the same file as output"),
        ("--trace = the journal", ["score", img, "-o", os.path.join(tmp, "o.npy"), *MLP, "--trace",
                                   os.path.join(tmp, "o.npy.journal")], "is the same file as journal"),
        ("-o inside a weights directory", ["score", img, "-o", os.path.join(tmp, "wdir", "o.npy"), "--model", SPEC,
                                           "--weights", os.path.join(tmp, "wdir")], "which the job reads"),
    ]
    os.makedirs(os.path.join(tmp, "sub"))
    os.makedirs(os.path.join(tmp, "wdir"))
    for name, args, message in cases:
        refused(name, run(*args), message)
    untouched(before, "outputs over inputs")
    check(not os.path.exists(os.path.join(tmp, "o.npy.lock")), "a refused job left a lock file")


# 2. An input named like the output's partial file; a leftover symlink as the partial file.
@case
def test_partial_file_names(tmp):
    img = draw_inputs(tmp, "img")
    partial_input = os.path.join(tmp, "x.npy.partial")
    with open(img, "rb") as f, open(partial_input, "wb") as g:
        g.write(f.read())
    os.symlink(img, os.path.join(tmp, "out.npy.partial"))
    before = snapshot(tmp)
    refused("input named OUT.partial", run("preprocess", partial_input, "-o", os.path.join(tmp, "x.npy"), "--spec", SPEC),
            "partial output " + partial_input + " is the same file as input")
    refused("score, input named OUT.partial", run("score", partial_input, "-o", os.path.join(tmp, "x.npy"), *MLP),
            "is the same file as input")
    refused("leftover symlink OUT.partial -> input",
            run("preprocess", img, "-o", os.path.join(tmp, "out.npy"), "--spec", SPEC),
            "out.npy.partial: exists and is a symlink")
    os.symlink(os.path.join(tmp, "elsewhere.npy"), os.path.join(tmp, "dangling.npy.journal"))
    refused("journal name is a dangling symlink", run("preprocess", img, "-o", os.path.join(tmp, "dangling.npy"), "--spec", SPEC),
            "dangling.npy.journal: exists and is a symlink")
    check(not os.path.exists(os.path.join(tmp, "elsewhere.npy")), "a journal was written through a symlink")
    untouched(before, "partial file names")


# 3. Outputs that are device nodes, FIFOs or directories.
@case
def test_special_outputs(tmp):
    img = draw_inputs(tmp, "img")
    os.makedirs(os.path.join(tmp, "dev"))
    os.mknod(os.path.join(tmp, "dev", "null"), 0o666 | 0o020000, os.makedev(1, 3))
    os.mkfifo(os.path.join(tmp, "fifo"))
    before = snapshot(tmp)
    refused("-o a character device", run("preprocess", img, "-o", os.path.join(tmp, "dev", "null"), "--spec", SPEC),
            "exists and is a character device; npyflow replaces only regular files")
    refused("-o /dev/full", run("score", img, "-o", "/dev/full", *MLP), "/dev/full: exists and is a character device")
    refused("-o a FIFO", run("preprocess", img, "-o", os.path.join(tmp, "fifo"), "--spec", SPEC), "exists and is a FIFO")
    check(os.path.exists("/dev/null") and not os.path.isfile("/dev/null"), "/dev/null is no longer a device")
    untouched(before, "special outputs")


# 4. Two jobs on one output: the second is refused at once, naming the first; the first's
# output is right. A killed job's lock file does not block the next job.
@case
def test_one_writer_per_output(tmp):
    big = draw_inputs(tmp, "big")
    out = os.path.join(tmp, "p.npy")
    first = subprocess.Popen([NPYFLOW, "preprocess", big, "-o", out, "--spec", SPEC, "--threads", "1", "-q"],
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not os.path.exists(out + ".lock") and time.time() < deadline and first.poll() is None:
        time.sleep(0.005)
    second = run("preprocess", big, "-o", out, "--spec", SPEC, "--threads", "1", "-q")
    resumed = run("preprocess", big, "-o", out, "--spec", SPEC, "--threads", "1", "-q", "--resume")
    _, first_err = first.communicate()
    check(first.returncode == 0, f"first job: exit {first.returncode}: {first_err}")
    refused("second job on the same output", second, f"p.npy: another job is writing this output (pid {first.pid} on host ")
    refused("--resume beside a running job", resumed, "another job is writing this output")
    got = np.load(out, mmap_mode="r")
    check(got.shape == (300000, 1, 28, 28) and float(got[-1].max()) == float(got[0].max()),
          "the first job's output is not its own")
    check(not os.path.exists(out + ".lock") and not os.path.exists(out + ".journal"), "the lock or journal was left")
    # A file at OUT.lock that no job left: a hard link to someone's file, or other contents.
    precious = os.path.join(tmp, "precious.txt")
    with open(precious, "w") as f:
        f.write("precious data\n")
    os.link(precious, os.path.join(tmp, "linked.npy.lock"))
    with open(os.path.join(tmp, "other.npy.lock"), "w") as f:
        f.write("notes\n")
    before = snapshot(tmp)
    refused("OUT.lock a hard link", run("preprocess", big, "-o", os.path.join(tmp, "linked.npy"), "--spec", SPEC),
            "linked.npy.lock: has other names (hard links); npyflow uses this name to lock the output, remove it")
    refused("OUT.lock someone's notes", run("preprocess", big, "-o", os.path.join(tmp, "other.npy"), "--spec", SPEC),
            "other.npy.lock: holds something other than a job's pid and host")
    untouched(before, "lock files that are not locks")
    # SIGKILL leaves the lock file, which must not block the next run.
    killed = subprocess.Popen([NPYFLOW, "preprocess", big, "-o", out + "2", "--spec", SPEC, "--threads", "1", "-q"])
    while not os.path.exists(out + "2.lock") and killed.poll() is None:
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    r = run("preprocess", big, "-o", out + "2", "--spec", SPEC, "-q")
    check(r.returncode == 0, f"a killed job's lock file blocked the next run: {r.stderr}")


# 5. Journals of another rank count (without mpirun: a single process finds rank journals).
@case
def test_journals_of_another_rank_count(tmp):
    img = draw_inputs(tmp, "img")
    out = os.path.join(tmp, "ob.npy")
    for r in range(2):
        with open(out + f".rank{r}-of-2.journal", "w") as f:
            f.write("{}")
    with open(out + ".partial", "wb") as f:
        f.write(b"rows of an earlier run")
    before = snapshot(tmp)
    for extra in ([], ["--resume"]):
        refused(f"one process, rank journals, {extra}", run("score", img, "-o", out, *MLP, *extra),
                "on 2 ranks left journals (" + out + ".rank0-of-2.journal, " + out + ".rank1-of-2.journal); finish it "
                "with the same command under mpirun -np 2 and --resume")
    untouched(before, "journals of another rank count")


# 6. Absurd --threads and --prefetch; zero.
@case
def test_absurd_threads_and_prefetch(tmp):
    img = draw_inputs(tmp, "img")
    want = os.path.join(tmp, "want.npy")
    check(run("score", img, "-o", want, *MLP, "-q").returncode == 0, "reference run failed")
    for name, extra, note in [("--threads 4294967295", ["--threads", "4294967295"], "is more than the"),
                              ("--prefetch 4294967295", ["--prefetch", "4294967295"], None)]:
        out = os.path.join(tmp, name.split()[0][2:] + ".npy")
        r = run("score", img, "-o", out, *MLP, *extra, "-q")
        check(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr}")
        check(note is None or note in r.stderr, f"{name}: no warning: {r.stderr!r}")
        check(os.path.exists(out) and open(out, "rb").read() == open(want, "rb").read(), f"{name}: output differs")
    for option in ["--threads", "--prefetch", "--batch"]:
        refused(f"{option} 0", run("score", img, "-o", os.path.join(tmp, "z.npy"), *MLP, option, "0"),
                f"{option}: must be a whole number of at least 1, got '0'", code=2)


# 7. NaN and Inf inputs: rows PyTorch gives NaN for are NaN here too, ordinary rows match it,
# and every row with a non-finite input is counted in a warning.
@case
def test_non_finite_inputs(tmp):
    x = os.path.join(FIXTURES, "nonfinite.input.npy")
    bad_rows = int((~np.isfinite(np.load(x)).all(axis=(1, 2))).sum())
    for model, args in [("mlp", MLP), ("cnn", CNN)]:
        torch_out = np.load(os.path.join(FIXTURES, f"nonfinite.{model}.torch.npy"))
        for kind in ["logits", "argmax"]:
            out = os.path.join(tmp, f"nonfinite.{model}.{kind}.npy")
            r = run("score", x, "-o", out, *args, "--output-kind", kind, "-q")
            check(r.returncode == 0, f"{model} {kind}: exit {r.returncode}: {r.stderr}")
            check(f"warning: {bad_rows} of 12 rows had NaN or Inf in the network's input (the first: row 1)" in r.stderr,
                  f"{model} {kind}: no count of the non-finite rows: {r.stderr!r}")
            got = np.load(out)
            finite_in = np.isfinite(np.load(x)).all(axis=(1, 2))
            torch_nan = np.isnan(torch_out).any(axis=1)
            if kind == "argmax":  # PyTorch's on ordinary rows; -1 (no class) where any input is not finite
                check((got[finite_in] == torch_out.argmax(axis=1)[finite_in]).all() and (got[~finite_in] == -1).all(),
                      f"{model}: argmax {got} vs PyTorch {torch_out.argmax(axis=1)}")
                continue
            check(np.isnan(got[torch_nan]).all(), f"{model}: a row PyTorch gives NaN for is not NaN here")
            check(np.abs(got[finite_in] - torch_out[finite_in]).max() < 1e-4, f"{model}: ordinary rows differ from PyTorch")
            # The documented difference: a non-finite value PyTorch never uses (pooling crops it)
            # still makes the row NaN here.
            check(np.isnan(got[~finite_in]).all(), f"{model}: a row with a non-finite input has finite outputs")
        # Labels: a NaN row is never right, not even against label 0 (the first NaN's class).
        zeros = os.path.join(tmp, "zeros.npy")
        np.save(zeros, np.zeros(12, np.int64))
        want_correct = int((torch_out.argmax(axis=1)[np.isfinite(np.load(x)).all(axis=(1, 2))] == 0).sum())
        for kind in ["logits", "argmax"]:
            r = run("score", x, "-o", os.path.join(tmp, f"lab.{model}.{kind}.npy"), *args, "--output-kind", kind,
                    "--labels", zeros, "-q")
            check(f"({want_correct} of 12 correct)" in r.stdout, f"{model} {kind}: NaN rows counted: {r.stdout!r}")


# 8. Weights rewritten while the job runs: the job uses what it read at the start.
@case
def test_weights_rewritten_mid_run(tmp):
    big = draw_inputs(tmp, "big")
    weights = os.path.join(tmp, "w.npz")
    with open(os.path.join(EXAMPLES, "mlp.npz"), "rb") as f, open(weights, "wb") as g:
        g.write(f.read())
    args = ["--model", SPEC, "--weights", weights, "--threads", "1", "--batch", "64", "-q"]
    want = os.path.join(tmp, "want.npy")
    check(run("score", big, "-o", want, *args).returncode == 0, "reference run failed")
    out = os.path.join(tmp, "got.npy")
    p = subprocess.Popen([NPYFLOW, "score", big, "-o", out, *args, "--checkpoint-every", "0.01"],
                         stderr=subprocess.PIPE, text=True)
    while not os.path.exists(out + ".journal") and p.poll() is None:
        time.sleep(0.002)
    other = {k: v * 0 + 1 for k, v in np.load(weights).items()}
    np.savez(weights, **other)  # replaced, as a training script's next save would
    _, err = p.communicate()
    check(p.returncode == 0, f"weights rewritten: exit {p.returncode}: {err}")
    check(os.path.exists(out) and open(out, "rb").read() == open(want, "rb").read(),
          "rows scored after the weights were rewritten used the new weights")


# 9. An input overwritten in place while the job runs: refused at the commit, nothing kept.
@case
def test_input_rewritten_mid_run(tmp):
    big = draw_inputs(tmp, "big")
    inp = os.path.join(tmp, "changing.npy")
    with open(big, "rb") as f, open(inp, "wb") as g:
        g.write(f.read())
    out = os.path.join(tmp, "mixed.npy")
    p = subprocess.Popen([NPYFLOW, "score", inp, "-o", out, *MLP, "--threads", "1", "--batch", "64", "-q",
                          "--checkpoint-every", "0.01"], stderr=subprocess.PIPE, text=True)
    while not os.path.exists(out + ".journal") and p.poll() is None:
        time.sleep(0.002)
    st = os.stat(inp)
    with open(inp, "r+b") as f:  # dd conv=notrunc: same size, new bytes in the middle
        f.seek(os.path.getsize(inp) // 2)
        f.write(b"\xff" * (1 << 20))
    os.utime(inp, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the mtime set back (rsync --inplace -t)
    _, err = p.communicate()
    check(p.returncode == 1 and "an input changed while the job ran" in err and "input 0 " + inp + ": " in err
          and "ctime" in err, f"rewritten input: exit {p.returncode}: {err!r}")
    check(not [f for f in os.listdir(tmp) if f.startswith("mixed.npy")], "a job whose input changed left files")
    # The same while a resumed job runs: its reopened partial file goes too.
    with open(big, "rb") as f, open(inp, "wb") as g:
        g.write(f.read())
    args = [NPYFLOW, "score", inp, "-o", out, *CNN, "--threads", "1", "--batch", "64", "-q", "--checkpoint-every", "0.01"]
    first = subprocess.Popen(args, stderr=subprocess.PIPE)
    while not os.path.exists(out + ".journal") and first.poll() is None:
        time.sleep(0.002)
    first.send_signal(signal.SIGTERM)
    first.communicate()
    check(os.path.exists(out + ".partial"), "the interrupted job kept no partial file")
    resumed = subprocess.Popen([*args, "--resume"], stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    with open(inp, "r+b") as f:
        f.seek(os.path.getsize(inp) // 2)
        f.write(b"\x01" * (1 << 20))
    _, err = resumed.communicate()
    check(resumed.returncode == 1 and "an input changed while the job ran" in err, f"resumed, input rewritten: {err!r}")
    check(not [f for f in os.listdir(tmp) if f.startswith("mixed.npy")], "a resumed job whose input changed left files")


# 10. bench on an empty input.
@case
def test_bench_empty_input(tmp):
    empty = draw_inputs(tmp, "empty")
    refused("bench, 0 rows", run("bench", empty, *MLP), "has no rows; a benchmark needs at least one")


# 11. File names that are not UTF-8, with spaces, unicode, a leading dash; '-'.
@case
def test_odd_names(tmp):
    img = draw_inputs(tmp, "img")
    weird = os.path.join(tmp.encode(), b"\xff\xfe input.npy")
    with open(img, "rb") as f, open(weird, "wb") as g:
        g.write(f.read())
    out = os.path.join(tmp, "sp ace ünï.npy")
    r = subprocess.run([NPYFLOW.encode(), b"score", weird, b"-o", out.encode(), *[a.encode() for a in MLP],
                        b"--checkpoint-every", b"0.001", b"--batch", b"64", b"--threads", b"1", b"-q"],
                       capture_output=True)
    check(r.returncode == 0 and os.path.exists(out), f"a non-UTF-8 input name: exit {r.returncode}: {r.stderr!r}")
    r = subprocess.run([NPYFLOW.encode(), b"score", weird + b"x", b"-o", out.encode() + b"2", *[a.encode() for a in MLP]],
                       capture_output=True)
    check(r.returncode == 1 and b"\\xff\\xfe input.npyx" in r.stderr, f"a missing non-UTF-8 name: {r.stderr!r}")
    dash = os.path.join(tmp, "-x.npy")
    r = run("preprocess", img, "-o", dash, "--spec", SPEC, "-q")
    check(r.returncode == 0 and os.path.exists(dash), f"-o with a leading dash in the name: {r.stderr}")
    r = run("preprocess", img, "-o", "-y.npy", "--spec", SPEC, "-q", cwd=tmp)
    check(r.returncode == 0 and os.path.exists(os.path.join(tmp, "-y.npy")), f"-o -y.npy: {r.stderr}")
    refused("-o -", run("score", img, "-o", "-", *MLP), "'-' (standard output) is not supported", code=1)
    refused("input -", run("score", "-", "-o", os.path.join(tmp, "s.npy"), *MLP), "'-' (standard input) is not supported")
    check(not os.path.exists("-") and not os.path.exists(os.path.join(tmp, "-")), "a file named '-' was written")


# 12. Specs that are devices, pipes or too large.
@case
def test_special_specs(tmp):
    img = draw_inputs(tmp, "img")
    out = os.path.join(tmp, "o.npy")
    refused("--model /dev/zero", run("score", img, "-o", out, "--model", "/dev/zero", "--weights", MLP[3]),
            "/dev/zero: is a character device, not a regular file; save the JSON spec to a file")
    refused("--model /dev/urandom", run("score", img, "-o", out, "--model", "/dev/urandom", "--weights", MLP[3], timeout=20),
            "/dev/urandom: is a character device")
    read_end, write_end = os.pipe()
    os.write(write_end, open(SPEC, "rb").read())
    os.close(write_end)
    refused("--model <(cat spec)", run("score", img, "-o", out, "--model", f"/dev/fd/{read_end}", "--weights", MLP[3],
                                       pass_fds=(read_end,)), "is a FIFO, not a regular file")
    os.close(read_end)
    huge = os.path.join(tmp, "huge.json")
    with open(huge, "w") as f:
        f.write("[" + "0," * (9 << 20) + "0]")
    refused("a 18 MB spec", run("score", img, "-o", out, "--model", huge, "--weights", MLP[3]), "may be at most 16 MiB")
    refused("--weights /dev/zero", run("score", img, "-o", out, "--model", SPEC, "--weights", "/dev/zero"),
            "/dev/zero: is a character device, not a regular file; npyflow maps the files it reads")


# 13. Outputs that are directories, empty, missing directories, too long; --trace likewise.
@case
def test_output_names(tmp):
    img = draw_inputs(tmp, "img")
    os.makedirs(os.path.join(tmp, "adir"))
    long_name = os.path.join(tmp, "x" * 247 + ".npy")
    cases = [
        ("-o .", ".", "output .: is a directory; give a file name"),
        ("-o a directory", os.path.join(tmp, "adir"), "is a directory; give a file name"),
        ("-o dir/", os.path.join(tmp, "adir") + "/", "is a directory; give a file name"),
        ('-o ""', "", 'output: needs a file name, got ""'),
        ("-o missing/dir", os.path.join(tmp, "missing", "o.npy"), "the directory " + os.path.join(tmp, "missing") + " does not exist"),
        ("-o 247 characters", long_name, ".npy.partial: the name is 259 bytes, more than the 255 this filesystem allows"),
    ]
    for name, out, message in cases:
        refused(name, run("score", img, "-o", out, *MLP), message)
    refused("--trace missing/dir", run("score", img, "-o", os.path.join(tmp, "t.npy"), *MLP, "--trace",
                                       os.path.join(tmp, "nodir", "t.json")), "--trace " + os.path.join(tmp, "nodir", "t.json") + ": the directory")
    refused("--trace a directory", run("score", img, "-o", os.path.join(tmp, "t.npy"), *MLP, "--trace",
                                       os.path.join(tmp, "adir")), "is a directory")
    check(not [f for f in os.listdir(tmp) if f.startswith("t.npy") or f.startswith("x" * 20)], "a refused job left files")


# 14. Journals edited by hand: counts that are not counts, a directory, truncated, nested.
@case
def test_edited_journals(tmp):
    img, labels = draw_inputs(tmp, "img", "labels")
    out = os.path.join(tmp, "j.npy")
    args = ["score", img, "-o", out, *CNN, "--labels", labels]
    p = subprocess.Popen([NPYFLOW, *args, "--threads", "1", "--batch", "64", "-q", "--checkpoint-every", "0.01"],
                         stderr=subprocess.PIPE)
    while not os.path.exists(out + ".journal") and p.poll() is None:
        time.sleep(0.002)
    time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    p.communicate()
    journal = json.load(open(out + ".journal"))
    before = snapshot(tmp)
    for name, edit, message in [
        ("rows_done 1e30", lambda j: j.update(rows_done=1e30), "'rows_done' is 1e+30, not a row count"),
        ("rows_done -5", lambda j: j.update(rows_done=-5), "'rows_done' is -5, not a row count"),
        ("rows_done past the end", lambda j: j.update(rows_done=10 ** 9), "more rows done than the job has"),
        ("correct 1e30", lambda j: j["sink_state"].update(correct=1e30), "the journal's 'correct' is 1e+30, not a count"),
        ("correct above rows_done", lambda j: j["sink_state"].update(correct=j["rows_done"] + 1), "not a count of at most"),
        ("fingerprint a string", lambda j: j.update(fingerprint="x"), "must be objects"),
    ]:
        edited = json.loads(json.dumps(journal))
        edit(edited)
        with open(out + ".journal", "w") as f:
            json.dump(edited, f)
        refused(name, run(*args, "--resume"), message)
    # The journal may be rewritten by a refused resume (its last checkpoint); the rows are kept.
    untouched({k: v for k, v in before.items() if not k.endswith(".journal")}, "edited journals")
    with open(out + ".journal", "w") as f:
        json.dump(journal, f)
    r = run(*args, "--resume", "-q")
    check(r.returncode == 0 and "accuracy" in r.stdout, f"the journal restored: {r.stderr}")
    for name, text in [("a truncated journal", json.dumps(journal)[:40]), ("a nested journal", "[" * 10000 + "]" * 10000)]:
        with open(out + "2.journal", "w") as f:
            f.write(text)
        refused(name, run("score", img, "-o", out + "2", *CNN, "--resume"), "not a journal npyflow can resume from")
    os.remove(out + "2.journal")
    os.makedirs(out + "2.journal")
    refused("a journal that is a directory", run("score", img, "-o", out + "2", *CNN, "--resume"),
            "j.npy2.journal: exists and is a directory")


# 15. Shapes numpy would refuse, headers that promise more data than the file has.
@case
def test_impossible_shapes(tmp):
    huge = os.path.join(tmp, "huge.npy")
    write_npy_header(huge, "|u1", (0, 2 ** 62))
    spec = os.path.join(tmp, "f64.json")
    with open(spec, "w") as f:
        json.dump({"preprocess": [{"op": "cast", "dtype": "float64"}]}, f)
    refused("uint8 (0, 2^62) cast to float64", run("preprocess", huge, "-o", os.path.join(tmp, "h.npy"), "--spec", spec),
            "shape (0, 4611686018427387904) of float64 is too big for numpy")
    check(not [f for f in os.listdir(tmp) if f.startswith("h.npy")], "a refused shape left files")
    short = os.path.join(tmp, "short.npy")
    write_npy_header(short, "|u1", (1000, 28, 28))
    refused("a header larger than the file", run("preprocess", short, "-o", os.path.join(tmp, "s.npy"), "--spec", SPEC),
            "short.npy")


# 16. Specs with numbers out of range, NUL bytes, deep nesting, absurd axes.
@case
def test_bad_spec_text(tmp):
    img = draw_inputs(tmp, "img")
    out = os.path.join(tmp, "o.npy")
    for name, text, message in [
        ("1e400", '{"preprocess": [{"op": "scale", "factor": 1e400}]}', "not valid JSON: [json.exception.out_of_range.406]"),
        ("NUL and garbage", '{"preprocess": []}\0garbage', "not valid JSON: a NUL byte at offset 18"),
        ("nested 100000 deep", '{"preprocess": ' + "[" * 100000 + "]" * 100000 + "}", "nested more than 64 levels deep"),
        ("axis 2^62", '{"preprocess": [{"op": "cast", "dtype": "float32"}, {"op": "normalize", "mean": [0], "std": [1], '
                      '"axis": 4611686018427387904}]}', "'axis' must be an integer from -64 to 63"),
    ]:
        spec = os.path.join(tmp, "bad.json")
        with open(spec, "w") as f:
            f.write(text)
        r = run("preprocess", img, "-o", out, "--spec", spec)
        refused(name, r, message)
        check(spec in errors(r.stderr)[0] if errors(r.stderr) else False, f"{name}: the spec file is not named")


# 17. Layers too large for memory: refused before the first batch, with the figures.
@case
def test_memory_guard(tmp):
    img = draw_inputs(tmp, "img")
    spec = json.load(open(os.path.join(EXAMPLES, "cnn.json")))
    # 30 GB of activations a row: more than the machine has even one row at a time (the network
    # runs fewer rows at a time where 64 would not fit, so a row of 1 GB runs).
    spec["layers"] = [dict(spec["layers"][0], padding=10800), {"type": "global_avgpool2d"}, {"type": "flatten"}]
    path = os.path.join(tmp, "pad.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    out = os.path.join(tmp, "o.npy")
    r = run("score", img, "-o", out, "--model", path, "--weights", CNN[3], "--threads", "2")
    refused("conv padding 10800", r, "the job would need about ")
    check("activations (1 row a thread; the largest: layer 0 (conv2d), (16, 21626, 21626) a row)" in r.stderr
          and " GB" in r.stderr, f"the memory figure does not name the layer: {r.stderr!r}")
    refused("--max-memory 1MB", run("score", img, "-o", out, *MLP, "--max-memory", "1MB"),
            "more than --max-memory (1 MB); lower --batch, --prefetch or --threads")
    refused("preprocess --max-memory 1MB", run("preprocess", img, "-o", out, "--spec", SPEC, "--max-memory", "1MB"),
            "more than --max-memory (1 MB); lower --batch or --prefetch")
    check(not [f for f in os.listdir(tmp) if f.startswith("o.npy")], "a refused job left files")
    r = run("score", img, "-o", out, *MLP, "--max-memory", "8GB", "-q")
    check(r.returncode == 0, f"--max-memory 8GB refused a small job: {r.stderr}")
    spec["layers"][0]["padding"] = 536870899  # 2^30 rows and columns: the sizes would overflow
    with open(path, "w") as f:
        json.dump(spec, f)
    refused("conv padding 2^29", run("score", img, "-o", out, "--model", path, "--weights", CNN[3]),
            "'padding' is 536870899, more than the 1048576 npyflow accepts")
    spec = json.load(open(SPEC))
    spec["layers"][1]["out_features"] = 10 ** 9
    with open(path, "w") as f:
        json.dump(spec, f)
    refused("a linear of 10^9 outputs", run("score", img, "-o", out, "--model", path, "--weights", MLP[3]),
            "expected (1000000000, 784) (3.14e+03 GB of float32) (out, in)")


# Read-only and missing directories (as another user when run as root, who may write anywhere).
@case
def test_unwritable_directory(tmp):
    img = draw_inputs(tmp, "img")
    ro = os.path.join(tmp, "ro")
    os.makedirs(ro)
    os.chmod(ro, 0o555)
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    if as_user:  # the other user must be able to read what the job reads
        for d in (tmp, os.path.dirname(tmp), os.path.dirname(img)):
            os.chmod(d, 0o755)
    r = subprocess.run([*as_user, NPYFLOW, "score", img, "-o", os.path.join(ro, "o.npy"), *MLP], capture_output=True,
                       text=True, timeout=120)
    refused("-o in a read-only directory", r, "o.npy.lock: cannot create the lock that keeps other jobs off this "
                                              "output: Permission denied")
    check(os.listdir(ro) == [], "a job wrote into a read-only directory")


# 18. Option values and labels that would make the answer wrong.
@case
def test_options_and_labels(tmp):
    img, labels = draw_inputs(tmp, "img", "labels")
    out = os.path.join(tmp, "o.npy")
    refused("--checkpoint-every nan", run("score", img, "-o", out, *MLP, "--checkpoint-every", "nan"),
            "--checkpoint-every: must be a number of seconds from 0.001 to 86400, got 'nan'", code=2)
    refused("an unknown command", run("frobnicate", img), "unknown command 'frobnicate'; the commands are inspect", code=2)
    n = len(np.load(labels))
    for name, values, message in [
        ("label -1", np.where(np.arange(n) == 7, -1, np.load(labels)), "row 7 holds -1, which is not a class index"),
        ("label 2^64-1", np.full(n, 2 ** 64 - 1, np.uint64), "row 0 holds 18446744073709551615"),
        ("label 10 of 10 classes", np.full(n, 10, np.int8), "row 0 holds 10, which is not a class index of this network (0 to 9)"),
        ("bool labels", np.ones(n, bool), "labels must be"),
    ]:
        path = os.path.join(tmp, "bad_labels.npy")
        np.save(path, values)
        refused(name, run("score", img, "-o", out, *MLP, "--labels", path), message)
        check(not os.path.exists(out) and not os.path.exists(out + ".partial"), f"{name}: output written")


# Issue 15's sweep: empty and one-row inputs, a directory as an input.
@case
def test_small_and_odd_inputs(tmp):
    empty, img = draw_inputs(tmp, "empty", "img")
    out = os.path.join(tmp, "e.npy")
    r = run("score", empty, "-o", out, *MLP, "-q")
    check(r.returncode == 0 and np.load(out).shape == (0, 10), f"an empty input: {r.stderr}")
    one = os.path.join(tmp, "one.npy")
    np.save(one, np.load(img, mmap_mode="r")[:1])
    r = run("score", one, "-o", os.path.join(tmp, "one_out.npy"), *MLP, "--threads", "2", "--prefetch", "8", "-q")
    check(r.returncode == 0 and np.load(os.path.join(tmp, "one_out.npy")).shape == (1, 10), f"one row: {r.stderr}")
    refused("a directory as the input", run("score", tmp, "-o", os.path.join(tmp, "d.npy"), *MLP), "is a directory")


# 5, under MPI: interrupted on 2 ranks, resumed on 3: refused, the kept rows untouched.
@case
def test_mpi_resume_on_other_rank_count(tmp):
    if not MPIEXEC:
        skip("npyflow was built without MPI")
    big = draw_inputs(tmp, "big")
    mpi = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
    out = os.path.join(tmp, "ob.npy")
    args = ["score", big, "-o", out, *CNN, "--threads", "1", "--checkpoint-every", "0.01"]
    p = subprocess.Popen([*mpi, "-np", "2", NPYFLOW, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(out + ".rank1-of-2.journal") and p.poll() is None:
        time.sleep(0.005)
    time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    p.wait()
    before = snapshot(tmp)
    r = subprocess.run([*mpi, "-np", "3", NPYFLOW, *args, "--resume"], capture_output=True, text=True, timeout=300)
    check(r.returncode != 0 and "on 2 ranks left journals" in r.stderr and "under mpirun -np 2 and --resume" in r.stderr,
          f"-np 3 --resume of a 2-rank job: {r.returncode}: {errors(r.stderr)}")
    untouched(before, "MPI resume on another rank count")
    r = subprocess.run([*mpi, "-np", "2", NPYFLOW, *args, "--resume"], capture_output=True, text=True, timeout=300)
    want = os.path.join(tmp, "ob_want.npy")
    check(run("score", big, "-o", want, *CNN, "-q").returncode == 0, "reference run failed")
    check(r.returncode == 0 and open(out, "rb").read() == open(want, "rb").read(),
          f"-np 2 --resume after the refusal: {r.returncode} {errors(r.stderr)}")


# Shards are renamed one rank at a time: a job killed between two renames is finished by
# --resume, never reported complete with a shard missing.
@case
def test_mpi_shards_killed_between_renames(tmp):
    if not MPIEXEC:
        skip("npyflow was built without MPI")
    big = draw_inputs(tmp, "big")
    mpi = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "2", NPYFLOW]
    out = os.path.join(tmp, "sh.npy")
    args = ["score", big, "-o", out, *CNN, "--threads", "1", "--output-shards", "--checkpoint-every", "0.01"]
    shard = [os.path.join(tmp, f"sh-{r:05}-of-00002.npy") for r in range(2)]
    journal = [s + ".journal" for s in shard]
    p = subprocess.Popen([*mpi, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not all(os.path.exists(j) for j in journal) and p.poll() is None:
        time.sleep(0.005)
    time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    p.wait()
    if not all(os.path.exists(j) for j in journal):
        check(False, "the interrupted shards job kept no journals")
        return
    kept = [json.load(open(j)) for j in journal]
    r = subprocess.run([*mpi, *args, "--resume"], capture_output=True, text=True, timeout=300)
    check(r.returncode == 0 and all(os.path.exists(s) for s in shard), f"shards resumed: {errors(r.stderr)}")
    want = [open(s, "rb").read() for s in shard]
    # The moment between the renames: both journals say "every row", shard 0 has its name,
    # shard 1 is still its partial file.
    for rank, (j, k) in enumerate(zip(journal, kept)):
        k["rows_done"] = (rank + 1) * k["total_rows"] // 2  # the end of the rank's share
        with open(j, "w") as f:
            json.dump(k, f)
    os.rename(shard[1], shard[1] + ".partial")
    r = subprocess.run([*mpi, *args, "--resume"], capture_output=True, text=True, timeout=300)
    check(r.returncode == 0 and "already complete" not in r.stderr, f"a half-renamed job: {r.returncode} {r.stderr!r}")
    check([open(s, "rb").read() if os.path.exists(s) else None for s in shard] == want, "the shards differ")
    check(not [f for f in os.listdir(tmp) if f.endswith(".journal") or f.endswith(".partial")], "journals or partial files left")


if __name__ == "__main__":
    sys.exit(cli_cases.main(setup))
