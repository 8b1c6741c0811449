#!/usr/bin/python3
"""Preprocessing throughput, measured in one run against its baselines, for each --rows:

  npyflow preprocess   uint8 (N, 28, 28) -> normalized float32 (N, 1, 28, 28), the whole
                       command: it fsyncs its output before renaming it into place
  dd conv=fdatasync    writing the output's bytes durably: what the disk allows
  numpy                the same transform in chunks into open_memmap (numpy_preprocess_baseline.py),
                       without a flush (the kernel writes it later) and with one (msync)
  dd (page cache)      writing the output's bytes into the page cache, no flush

Each trial runs every contender once, in turn, after `sync` and with the output removed (so
no one pays for another's writeback); figures are medians over the trials. The target
(docs/performance.md): npyflow's whole command takes at most 1/0.95 of dd conv=fdatasync's
time for the same bytes.

usage: preprocess_throughput.py NPYFLOW_BINARY [--rows N[,N...]] [--trials K] [--dir DIR] [--json OUT]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = {"preprocess": [{"op": "cast", "dtype": "float32"}, {"op": "scale", "factor": 0.00392156862745098},
                       {"op": "normalize", "mean": [0.2860], "std": [0.3530], "axis": 0},
                       {"op": "reshape", "shape": [1, 28, 28]}]}


def sync_and_remove(*paths):
    for p in paths:
        if os.path.exists(p):
            os.remove(p)
    subprocess.run(["sync"], check=True)


def run_npyflow(binary, src, out, spec, extra):
    """The whole command's wall time, and its own figures: pipeline seconds and flush after it."""
    start = time.perf_counter()
    r = subprocess.run([binary, "preprocess", src, "-o", out, "--spec", spec, *extra],
                       capture_output=True, text=True, check=True)
    whole = time.perf_counter() - start
    m = re.search(r"in ([0-9.]+) s: .*, ([0-9.]+) s more to flush", r.stderr)
    return whole, float(m.group(1)), float(m.group(2))


def run_numpy(src, out, flush):
    r = subprocess.run([sys.executable, os.path.join(HERE, "numpy_preprocess_baseline.py"), src, out]
                       + (["--flush"] if flush else []), capture_output=True, text=True, check=True)
    j = json.loads(r.stdout)
    return j["seconds"] + j["flush_seconds"]


def run_dd(out, nbytes, durable):
    block = 1 << 20
    start = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={out}", f"bs={block}", f"count={nbytes // block}"]
                   + (["conv=fdatasync"] if durable else []), capture_output=True, check=True)
    return time.perf_counter() - start


def make_input(path, rows):
    if os.path.exists(path):
        return
    out = np.lib.format.open_memmap(path + ".tmp", mode="w+", dtype=np.uint8, shape=(rows, 28, 28))
    rng = np.random.default_rng(0)
    for i in range(0, rows, 500000):
        out[i:i + 500000] = rng.integers(0, 256, size=(min(500000, rows - i), 28, 28), dtype=np.uint8)
    out.flush()
    del out
    os.rename(path + ".tmp", path)


def measure(args, rows):
    src = os.path.join(args.dir, f"uint8_{rows}x28x28.npy")
    make_input(src, rows)
    with open(src, "rb") as f:  # page-cache the input
        while f.read(64 << 20):
            pass
    spec = os.path.join(args.dir, "spec.json")
    with open(spec, "w") as f:
        json.dump(SPEC, f)
    out = os.path.join(args.dir, "out.npy")
    out_bytes = rows * 28 * 28 * 4
    extra = ["--threads", str(args.threads)] if args.threads else []

    times = {k: [] for k in ["npyflow", "npyflow_pipeline", "npyflow_flush", "dd_fdatasync", "numpy", "numpy_flush",
                             "dd_page_cache"]}
    for trial in range(args.trials):
        sync_and_remove(out)
        whole, pipeline, flush = run_npyflow(args.npyflow, src, out, spec, extra)
        times["npyflow"].append(whole)
        times["npyflow_pipeline"].append(pipeline)
        times["npyflow_flush"].append(flush)
        sync_and_remove(out)
        times["dd_fdatasync"].append(run_dd(out, out_bytes, durable=True))
        sync_and_remove(out)
        times["numpy_flush"].append(run_numpy(src, out, flush=True))
        sync_and_remove(out)
        times["numpy"].append(run_numpy(src, out, flush=False))
        sync_and_remove(out)
        times["dd_page_cache"].append(run_dd(out, out_bytes, durable=False))
        sync_and_remove(out)
        print(f"{rows} rows, trial {trial + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "rows": rows, "trials": args.trials, "output_bytes": out_bytes, "cores": os.cpu_count(),
        "median_seconds": med,
        "npyflow_out_GBps": out_bytes / med["npyflow"] / 1e9,
        "dd_fdatasync_over_npyflow": med["dd_fdatasync"] / med["npyflow"],
        "numpy_flush_over_npyflow": med["numpy_flush"] / med["npyflow"],
        "numpy_over_npyflow": med["numpy"] / med["npyflow"],
        "pipeline_over_dd_page_cache": med["dd_page_cache"] / med["npyflow_pipeline"],
    }
    print(f"{rows} rows, {out_bytes / 1e9:.2f} GB out, medians of {args.trials}:")
    print(f"  npyflow whole command   {med['npyflow']:.2f} s ({result['npyflow_out_GBps']:.2f} GB/s durable; "
          f"pipeline {med['npyflow_pipeline']:.2f} s, then {med['npyflow_flush']:.2f} s of flush)")
    print(f"  dd conv=fdatasync       {med['dd_fdatasync']:.2f} s: npyflow writes durably at "
          f"{result['dd_fdatasync_over_npyflow']:.2f}x dd's rate (target >= 0.95)")
    print(f"  numpy + msync           {med['numpy_flush']:.2f} s: npyflow {result['numpy_flush_over_npyflow']:.2f}x faster")
    print(f"  numpy, no flush         {med['numpy']:.2f} s: npyflow {result['numpy_over_npyflow']:.2f}x faster "
          "(numpy's output is not yet on disk)")
    print(f"  dd into the page cache  {med['dd_page_cache']:.2f} s")
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("npyflow")
    parser.add_argument("--rows", default="500000", help="comma-separated row counts, e.g. 500000,5000000")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/npyflow-bench")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    results = [measure(args, int(r)) for r in args.rows.split(",")]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
