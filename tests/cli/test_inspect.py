#!/usr/bin/python3
"""`npyflow inspect` as a user runs it, checked against numpy and against every bad input.

usage: test_inspect.py [--list | --case NAME] NPYFLOW_BINARY FIXTURES_DIR
(FIXTURES_DIR holds numpy/ and bad/, written by tests/io/make_*.py; one CTest a case, see
tests/cli_cases.py)
"""
import json
import math
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cli_cases  # noqa: E402
from cli_cases import check  # noqa: E402


def run(*args):
    return subprocess.run([NPYFLOW, *args], capture_output=True, text=True, timeout=120)


def close(a, b, rel=1e-6):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):  # "inf", "-inf", "nan"
        return str(a) == str(b) or float(a) == float(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


@cli_cases.case
def test_against_numpy(tmp):
    numpy_dir = NUMPY_DIR
    manifest = json.load(open(os.path.join(numpy_dir, "manifest.json")))
    paths = [os.path.join(numpy_dir, f["path"]) for f in manifest["files"]]
    for flags in ([], ["--stats"]):
        r = run("inspect", "--json", *flags, *paths)
        check(r.returncode == 0, f"inspect {flags} on numpy files exits 0, got {r.returncode}: {r.stderr}")
        got = json.loads(r.stdout)["files"]
        check(len(got) == len(manifest["files"]), "one entry per file")
        for want_file, got_file in zip(manifest["files"], got):
            check(got_file["path"].endswith(want_file["path"]), f"path {got_file['path']}")
            check(len(got_file["arrays"]) == len(want_file["arrays"]), f"{want_file['path']}: member count")
            for want, have in zip(want_file["arrays"], got_file["arrays"]):
                where = f"{want_file['path']}:{want['name']}"
                for key in ("name", "dtype", "shape", "fortran_order", "byte_order", "nbytes"):
                    check(have[key] == want[key], f"{where}: {key} {have[key]!r} != numpy's {want[key]!r}")
                if flags:
                    ws, hs = want["stats"], have["stats"]
                    check(hs["nan_count"] == ws["nan_count"], f"{where}: nan_count")
                    for key in ("min", "max"):
                        check(close(hs[key], ws[key], 0), f"{where}: {key} {hs[key]} != numpy's {ws[key]}")
                    check(close(hs["mean"], ws["mean"]), f"{where}: mean {hs['mean']} != numpy's {ws['mean']}")
                else:
                    check("stats" not in have, f"{where}: no stats without --stats")

    # The human-readable form names every member.
    r = run("inspect", os.path.join(numpy_dir, "weights_stored.npz"))
    check(r.returncode == 0 and "dense/kernel:0" in r.stdout and "float16" in r.stdout, "text output lists members")


@cli_cases.case
def test_bad_inputs(tmp):
    bad_dir = BAD_DIR
    cases = json.load(open(os.path.join(bad_dir, "expected.json")))
    for case in cases:
        path = os.path.join(bad_dir, case["file"])
        args = ["inspect", "--stats", path] if case["needs_data"] else ["inspect", path]
        r = run(*args)
        lines = r.stderr.splitlines()
        check(r.returncode == 1, f"{case['file']}: exit code {r.returncode}, want 1")
        check(len(lines) == 1, f"{case['file']}: {len(lines)} stderr lines, want 1: {r.stderr!r}")
        check(r.stderr.startswith(f"npyflow: error: {path}"), f"{case['file']}: message names the file: {r.stderr!r}")
        check(case["error"] in r.stderr, f"{case['file']}: message lacks {case['error']!r}: {r.stderr!r}")
        check("Sanitizer" not in r.stderr and "runtime error" not in r.stderr, f"{case['file']}: sanitizer report")
        if case["needs_data"]:
            # Without --stats only the header is read, so a member broken after its header
            # still lists: proof that inspect inflates no further than the header.
            r = run("inspect", path)
            check(r.returncode == 0, f"{case['file']}: header-only inspect exits 0, got {r.returncode}: {r.stderr}")


@cli_cases.case
def test_usage_and_mixed(tmp):
    numpy_dir, bad_dir = NUMPY_DIR, BAD_DIR
    good = os.path.join(numpy_dir, "float32_v2.npy")
    bad = os.path.join(bad_dir, "bad_magic.npy")
    r = run("inspect", "--json", good, bad)
    check(r.returncode == 1, "a bad file among good ones exits 1")
    check(len(json.loads(r.stdout)["files"]) == 1, "the good file is still reported")
    check(r.stderr.count("npyflow: error:") == 1, "one error line for the one bad file")
    for args in ([], ["inspect"], ["inspect", "--bogus", good], ["frobnicate"]):
        r = run(*args)
        check(r.returncode == 2, f"usage error {args} exits 2, got {r.returncode}")
        check(r.stderr.startswith("npyflow: error:"), f"usage error {args} says npyflow: error:")
    r = run("inspect", "--help")
    check(r.returncode == 0 and "--stats" in r.stdout, "inspect --help explains --stats")
    r = run("inspect", os.path.join(numpy_dir, "does-not-exist.npy"))
    check(r.returncode == 1 and "cannot open" in r.stderr, "missing file exits 1 with 'cannot open'")


def setup(npyflow, fixtures):
    global NPYFLOW, NUMPY_DIR, BAD_DIR
    NPYFLOW = npyflow
    NUMPY_DIR, BAD_DIR = os.path.join(fixtures, "numpy"), os.path.join(fixtures, "bad")


if __name__ == "__main__":
    sys.exit(cli_cases.main(setup))
