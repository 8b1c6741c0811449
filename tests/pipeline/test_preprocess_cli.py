#!/usr/bin/python3
"""`npyflow preprocess` against numpy, as a user runs it.

- The issue's transform, ((x.astype(float32) * factor) - mean) / std reshaped, for every input
  dtype, byte order and C/Fortran order: within 2 ulp of numpy (the plan rounds as numpy does,
  so the expected difference is 0 ulp; the test reports the largest seen).
- Each op against numpy, including saturating casts to every dtype.
- Bit-identical output for any thread count, batch size and prefetch depth.
- Multi-file inputs, error messages, exit codes, and Ctrl-C leaving no output but the rows it
  kept for --resume.

usage: test_preprocess_cli.py [--list | --case NAME] NPYFLOW_BINARY
(one CTest a case, see tests/cli_cases.py; each case draws its inputs from its own generator,
seeded 2026)
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cli_cases  # noqa: E402
from cli_cases import case, check, skip  # noqa: E402

max_ulp_seen = None  # over the float outputs compared with numpy, if any


def case_rng():
    """Each case's own generator: a case's inputs do not depend on which cases ran before it."""
    return np.random.default_rng(2026)


def run(*args, **kw):
    return subprocess.run([NPYFLOW, *args], capture_output=True, text=True, timeout=300, **kw)


def preprocess(tmp, inputs, ops, extra=(), name="out.npy"):
    spec = os.path.join(tmp, "spec.json")
    with open(spec, "w") as f:
        json.dump({"preprocess": ops}, f)
    out = os.path.join(tmp, name)
    r = run("preprocess", *inputs, "-o", out, "--spec", spec, *extra)
    return r, out


def ulp_distance(a, b):
    """Largest distance in units in the last place between two float arrays (NaN == NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0
    both_nan = np.isnan(a) & np.isnan(b)
    ints = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}[a.dtype]
    ia, ib = a.view(ints).astype(np.int64), b.view(ints).astype(np.int64)
    # Map sign-magnitude to a monotonic integer line.
    ia = np.where(ia < 0, np.iinfo(ints).min - ia, ia)
    ib = np.where(ib < 0, np.iinfo(ints).min - ib, ib)
    d = np.abs(ia - ib)
    d[both_nan] = 0
    return int(d.max())


def expect_close(tmp, name, got_path, want, ulps=2):
    global max_ulp_seen
    got = np.load(got_path)
    if want.dtype.kind == "f":
        d = ulp_distance(got, want)
        max_ulp_seen = max(max_ulp_seen or 0, d if d != float("inf") else 0)
        check(d <= ulps, f"{name}: {d} ulp from numpy (shape {got.shape} {got.dtype} vs {want.shape} {want.dtype})")
    else:
        check(got.dtype == want.dtype and np.array_equal(got, want), f"{name}: differs from numpy")


def sample(dtype, shape, rng):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = max(info.min, -(2**40)), min(info.max, 2**40)
        return rng.integers(lo, hi, size=shape, dtype=dt, endpoint=True)
    return (rng.standard_normal(size=shape) * 100).astype(dt)


ISSUE_OPS = [{"op": "cast", "dtype": "float32"}, {"op": "scale", "factor": 0.00392156862745098},
             {"op": "normalize", "mean": [0.2860], "std": [0.3530], "axis": 0},
             {"op": "reshape", "shape": [1, 28, 28]}]


def issue_reference(x):
    y = ((x.astype(np.float32) * np.float32(0.00392156862745098)) - np.float32(0.2860)) / np.float32(0.3530)
    return y.reshape(-1, 1, 28, 28)


@case
def test_issue_transform_every_dtype_and_layout(tmp):
    rng = case_rng()
    for dt in ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64"]:
        for order in "<>":
            for fortran in (False, True):
                x = sample(dt, (301, 28, 28), rng).astype(np.dtype(dt).newbyteorder(order))
                if fortran:
                    x = np.asfortranarray(x)
                src = os.path.join(tmp, "in.npy")
                np.save(src, x)
                r, out = preprocess(tmp, [src], ISSUE_OPS, ["--batch", "64"])
                name = f"issue transform {dt} {order} {'F' if fortran else 'C'}"
                check(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr}")
                if r.returncode == 0:
                    expect_close(tmp, name, out, issue_reference(x))


def saturating_reference(x, dst):
    dst = np.dtype(dst)
    if dst.kind == "b":
        return x != 0
    if dst.kind == "f":
        with np.errstate(over="ignore"):
            return x.astype(dst)
    info = np.iinfo(dst)
    if x.dtype.kind == "f":
        t = np.trunc(np.nan_to_num(x, nan=0.0, posinf=np.inf, neginf=-np.inf)).astype(np.float64)
        out = np.zeros(x.shape, dtype=dst)
        hi = t >= float(info.max) + 1  # 2**bits exactly
        lo = t <= float(info.min)
        mid = ~hi & ~lo
        out[mid] = t[mid].astype(dst)
        out[hi] = info.max
        out[lo] = info.min
        return out
    return np.array([min(max(int(v), int(info.min)), int(info.max)) for v in x.ravel()],
                    dtype=dst).reshape(x.shape)


@case
def test_each_op(tmp):
    rng = case_rng()
    src = os.path.join(tmp, "in.npy")
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 127.5, 128.0, -129.0, 255.9, 256.0,
                         65504.0, 65520.0, 1e10, -1e10, 2.0**31, 2.0**32, 2.0**63, 2.0**64, -2.0**63, 1e300],
                        dtype=np.float64)
    x = np.concatenate([specials, rng.standard_normal(96) * 1e4]).reshape(40, 3)
    np.save(src, x)
    for dst in ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64"]:
        r, out = preprocess(tmp, [src], [{"op": "cast", "dtype": dst}], ["--batch", "7"])
        check(r.returncode == 0, f"cast float64->{dst}: {r.stderr}")
        if r.returncode == 0:
            got, want = np.load(out), saturating_reference(x, dst)
            same = np.array_equal(got, want, equal_nan=(want.dtype.kind == "f"))
            check(got.dtype == want.dtype and same, f"cast float64->{dst} differs from numpy (saturating)")

    ints = np.array([0, 1, -1, 127, 128, -128, -129, 255, 256, 32767, 32768, -32769, 2**31, -(2**31) - 1, 2**32,
                     2**53 + 1, -(2**62), 2**63 - 1], dtype=np.int64).reshape(6, 3)
    np.save(src, ints)
    for dst in ["int8", "uint8", "int16", "uint16", "int32", "uint32", "uint64", "bool"]:
        r, out = preprocess(tmp, [src], [{"op": "cast", "dtype": dst}])
        check(r.returncode == 0 and np.array_equal(np.load(out), saturating_reference(ints, dst)),
              f"cast int64->{dst} differs from numpy (saturating): {r.stderr}")

    f = sample("float32", (50, 3, 8, 8), rng)
    f.flat[7] = np.nan
    np.save(src, f)
    cases = {
        "scale with offset": ([{"op": "scale", "factor": 0.37, "offset": -2.5}],
                              f * np.float32(0.37) + np.float32(-2.5)),
        "normalize per channel, axis 0": (
            [{"op": "normalize", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "axis": 0}],
            (f - np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1))
            / np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)),
        "clip": ([{"op": "clip", "min": -50, "max": 60}], np.clip(f, np.float32(-50), np.float32(60))),
        "clip min only": ([{"op": "clip", "min": 0}], np.clip(f, np.float32(0), None)),
        "transpose CHW to HWC": ([{"op": "transpose", "axes": [1, 2, 0]}], f.transpose(0, 2, 3, 1)),
        "reshape -1": ([{"op": "reshape", "shape": [3, -1]}], f.reshape(50, 3, 64)),
        "float64 chain": ([{"op": "cast", "dtype": "float64"}, {"op": "scale", "factor": 0.1},
                           {"op": "normalize", "mean": [1.0], "std": [3.0]}, {"op": "cast", "dtype": "float32"}],
                          (((f.astype(np.float64) * 0.1) - 1.0) / 3.0).astype(np.float32)),
    }
    for name, (ops, want) in cases.items():
        r, out = preprocess(tmp, [src], ops, ["--batch", "9"])
        check(r.returncode == 0, f"{name}: {r.stderr}")
        if r.returncode == 0:
            expect_close(tmp, name, out, want)

    hwc = sample("uint8", (20, 6, 5, 3), rng)
    np.save(src, hwc)
    ops = [{"op": "transpose", "axes": [2, 0, 1]}, {"op": "cast", "dtype": "float32"},
           {"op": "normalize", "mean": [10, 20, 30], "std": [2, 4, 8], "axis": 0}]
    want = (hwc.transpose(0, 3, 1, 2).astype(np.float32) - np.array([10, 20, 30], np.float32).reshape(1, 3, 1, 1)) \
        / np.array([2, 4, 8], np.float32).reshape(1, 3, 1, 1)
    r, out = preprocess(tmp, [src], ops)
    check(r.returncode == 0, f"HWC uint8 to normalized CHW: {r.stderr}")
    if r.returncode == 0:
        expect_close(tmp, "HWC uint8 to normalized CHW", out, want)


@case
def test_determinism(tmp):
    rng = case_rng()
    x = sample("uint8", (20011, 28, 28), rng)
    src = os.path.join(tmp, "big.npy")
    np.save(src, x)
    digests = {}
    for threads, batch, prefetch in [(1, 20011, 1), (1, 1, 1), (2, 7, 3), (2, 1000, 8), (4, 333, 2), (8, 64, 16)]:
        r, out = preprocess(tmp, [src], ISSUE_OPS,
                            ["--threads", str(threads), "--batch", str(batch), "--prefetch", str(prefetch)])
        check(r.returncode == 0, f"threads {threads} batch {batch} prefetch {prefetch}: {r.stderr}")
        digests[(threads, batch, prefetch)] = hashlib.sha256(open(out, "rb").read()).hexdigest()
    check(len(set(digests.values())) == 1, f"outputs differ across threads/batch/prefetch: {digests}")
    expect_close(tmp, "determinism run", out, issue_reference(x), ulps=0)
    check("rows/s" in r.stderr and "MB/s" in r.stderr and "preprocessed 20011 rows" in r.stderr,
          f"summary line: {r.stderr!r}")


@case
def test_multi_file(tmp):
    rng = case_rng()
    a = sample("uint8", (100, 28, 28), rng)
    b = np.asfortranarray(sample("uint8", (57, 28, 28), rng))
    c = sample("uint8", (0, 28, 28), rng)
    paths = [os.path.join(tmp, n) for n in ("a.npy", "b.npy", "c.npy")]
    for p, arr in zip(paths, (a, b, c)):
        np.save(p, arr)
    r, out = preprocess(tmp, paths, ISSUE_OPS, ["--batch", "32"])
    check(r.returncode == 0, f"multi-file: {r.stderr}")
    if r.returncode == 0:
        expect_close(tmp, "multi-file", out, issue_reference(np.concatenate([a, b, c])), ulps=0)
    np.save(os.path.join(tmp, "other.npy"), sample("uint8", (10, 27, 28), rng))
    r, _ = preprocess(tmp, [paths[0], os.path.join(tmp, "other.npy")], ISSUE_OPS)
    check(r.returncode == 1 and "other.npy: rows are uint8 (27, 28), but" in r.stderr,
          f"mismatched multi-file: {r.returncode} {r.stderr!r}")


@case
def test_errors(tmp):
    rng = case_rng()
    with open(os.path.join(tmp, "spec.json"), "w") as f:  # a valid spec, so each error below is its own
        json.dump({"preprocess": ISSUE_OPS}, f)
    src = os.path.join(tmp, "e.npy")
    np.save(src, sample("uint8", (10, 28, 28), rng))

    def fails(ops, fragment, extra=(), code=1, spec_text=None):
        spec = os.path.join(tmp, "bad_spec.json")
        with open(spec, "w") as f:
            f.write(spec_text if spec_text is not None else json.dumps({"preprocess": ops}))
        out = os.path.join(tmp, "never.npy")
        r = run("preprocess", src, "-o", out, "--spec", spec, *extra)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == code, f"{fragment}: exit {r.returncode}, want {code}: {r.stderr!r}")
        check(lines and lines[0].startswith("npyflow: error:") and fragment in r.stderr,
              f"message lacks {fragment!r}: {r.stderr!r}")
        check(not os.path.exists(out) and not os.path.exists(out + ".partial"), f"{fragment}: output left behind")

    fails([{"op": "cast", "dtype": "float32"}, {"op": "normalise"}], "preprocess[1]: unknown op 'normalise'")
    fails([{"op": "scale", "factor": 2}], "preprocess[0] (scale): needs float32 or float64 input, got uint8")
    fails([{"op": "cast", "dtype": "float32"}, {"op": "reshape", "shape": [3, 3]}],
          "preprocess[1] (reshape): cannot reshape samples (28, 28)")
    fails(None, "needs a \"preprocess\" list", spec_text='{"layers": []}')
    fails(None, "not valid JSON", spec_text='{"preprocess": [')
    r = run("preprocess", src, "--spec", os.path.join(tmp, "spec.json"))
    check(r.returncode == 2 and "--output is required" in r.stderr, f"missing -o: {r.returncode} {r.stderr!r}")
    r = run("preprocess", src, "-o", src, "--spec", os.path.join(tmp, "spec.json"))
    check(r.returncode == 1 and "is the same file as input" in r.stderr, f"output = input: {r.stderr!r}")
    r = run("preprocess", os.path.join(tmp, "missing.npy"), "-o", os.path.join(tmp, "x.npy"),
            "--spec", os.path.join(tmp, "spec.json"))
    check(r.returncode == 1 and "missing.npy: cannot open" in r.stderr, f"missing input: {r.stderr!r}")
    r = run("preprocess", "--help")
    check(r.returncode == 0 and "--prefetch" in r.stdout and "normalize" in r.stdout, "preprocess --help")


@case
def test_bounded_memory(tmp):
    """A 4 GiB input (sparse, so it costs no disk) streams with peak RSS far below its size."""
    if "TSAN_OPTIONS" in os.environ or "ASAN_OPTIONS" in os.environ:
        skip("under a sanitizer, whose shadow memory makes RSS meaningless")
    rows = (4 << 30) // (784 * 8)
    src = os.path.join(tmp, "sparse_4g.npy")
    with open(src, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (rows, 784)})
        f.truncate(f.tell() + rows * 784 * 8)
    r, out = preprocess(tmp, [src], [{"op": "cast", "dtype": "uint8"}], ["--batch", "512"])
    check(r.returncode == 0, f"4 GiB input: {r.stderr}")
    m = re.search(r"peak RSS ([0-9]+) MB", r.stderr)
    check(m is not None and int(m.group(1)) < 512, f"peak RSS for a 4 GiB input: {r.stderr!r}")
    y = np.load(out, mmap_mode="r")
    check(y.shape == (rows, 784) and y.dtype == np.uint8 and not y[::997].any() and not y[-1].any(),
          "4 GiB input: output is the input's zeros")
    print(f"peak RSS for a 4 GiB input: {m.group(1) if m else '?'} MB")
    del y
    os.remove(out)
    os.remove(src)


@case
def test_interrupt(tmp):
    """Ctrl-C ends the job with exit 130. Where it lands decides what is left, and both are right:
    before any row is written, nothing; after, the rows written so far, in OUT.partial with its
    journal, which --resume finishes to numpy's bytes. Never the output itself."""
    rng = case_rng()
    src = os.path.join(tmp, "long.npy")
    x = sample("uint8", (300000, 28, 28), rng)
    np.save(src, x)
    spec = os.path.join(tmp, "spec.json")
    with open(spec, "w") as f:
        json.dump({"preprocess": ISSUE_OPS}, f)
    out = os.path.join(tmp, "interrupted.npy")
    command = [NPYFLOW, "preprocess", src, "-o", out, "--spec", spec, "--batch", "1", "--threads", "1"]
    p = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not os.path.exists(out + ".partial") and time.time() < deadline and p.poll() is None:
        time.sleep(0.001)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    check(p.returncode == 130, f"Ctrl-C: exit {p.returncode}, want 130: {err!r}")
    check(not os.path.exists(out), "Ctrl-C left the output itself behind")
    kept = re.search(r"interrupted after (\d+) of 300000 rows; \1 of 300000 rows are kept in (\S+); "
                     r"run the same command with --resume to finish", err)
    if kept is None:
        check("interrupted after" in err and "no output written" in err, f"Ctrl-C message: {err!r}")
        check(not os.path.exists(out + ".partial") and not os.path.exists(out + ".journal"),
              "Ctrl-C before any row left a partial file or journal behind")
        return
    check(kept.group(2) == out + ".partial", f"Ctrl-C names {kept.group(2)!r}, want {out}.partial")
    check(os.path.exists(out + ".partial") and os.path.exists(out + ".journal"),
          "Ctrl-C said rows are kept but the partial file or journal is missing")
    r = subprocess.run(command[:-4] + ["--resume"], capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"--resume after Ctrl-C: exit {r.returncode}: {r.stderr!r}")
    if r.returncode == 0:
        expect_close(tmp, "resumed after Ctrl-C", out, issue_reference(x), ulps=0)
    print(f"Ctrl-C landed after {kept.group(1)} rows; --resume finished them")


@case
def test_writeback_during_the_job(tmp):
    """The output goes to disk a 64 MiB window at a time while the job runs (--stats says how
    much), and the bytes are numpy's all the same."""
    rng = case_rng()
    src = os.path.join(tmp, "wb.npy")
    x = sample("uint8", (100000, 28, 28), rng)
    np.save(src, x)
    r, out = preprocess(tmp, [src], ISSUE_OPS, extra=("--stats",), name="wb_out.npy")
    check(r.returncode == 0, f"writeback run: {r.stderr}")
    # 128-byte header + 100000 rows of 3136 bytes = 313,600,128 bytes: 4 whole windows. The last
    # one fills as the pipeline ends, so a fast run may send it at the flush instead: 3 or 4.
    windows = re.search(r"during it, (\d+) windows of 64 MiB sent to disk early", r.stderr)
    check(windows is not None and windows.group(1) in ("3", "4"), f"--stats flush line: {r.stderr!r}")
    expect_close(tmp, "writeback", out, issue_reference(x), ulps=0)


def setup(npyflow):
    global NPYFLOW
    NPYFLOW = npyflow


def report():
    if max_ulp_seen is not None:
        print(f"largest difference from numpy: {max_ulp_seen} ulp")


if __name__ == "__main__":
    sys.exit(cli_cases.main(setup, report))
