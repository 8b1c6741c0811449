#!/usr/bin/python3
"""Preprocessing throughput, measured in one run against its baselines:

  npyflow preprocess   uint8 (500000, 28, 28) -> normalized float32 (500000, 1, 28, 28)
  numpy                the same transform in chunks into open_memmap (numpy_preprocess_baseline.py)
  dd                   writing a new file of the output's size into the page cache

Each trial runs every contender once, in turn, after `sync` (so no one pays for another's
writeback); figures are medians over the trials. Times exclude the final flush to disk,
which is reported apart (npyflow fsyncs its output before renaming it into place; dd and
numpy without --flush leave it to the kernel).

usage: preprocess_throughput.py NPYFLOW_BINARY [--rows N] [--trials K] [--dir DIR] [--json OUT]
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
    r = subprocess.run([binary, "preprocess", src, "-o", out, "--spec", spec, *extra],
                       capture_output=True, text=True, check=True)
    m = re.search(r"in ([0-9.]+) s: .*, ([0-9.]+) s more to flush", r.stderr)
    return float(m.group(1)), float(m.group(2))


def run_numpy(src, out, flush):
    r = subprocess.run([sys.executable, os.path.join(HERE, "numpy_preprocess_baseline.py"), src, out]
                       + (["--flush"] if flush else []), capture_output=True, text=True, check=True)
    j = json.loads(r.stdout)
    return j["seconds"], j["flush_seconds"]


def run_dd(out, nbytes):
    block = 4 << 20
    start = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={out}", f"bs={block}", f"count={nbytes // block}"],
                   capture_output=True, check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("npyflow")
    parser.add_argument("--rows", type=int, default=500000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--dir", default="/tmp/npyflow-bench")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    src = os.path.join(args.dir, f"uint8_{args.rows}x28x28.npy")
    if not os.path.exists(src):
        x = np.random.default_rng(0).integers(0, 256, size=(args.rows, 28, 28), dtype=np.uint8)
        np.save(src, x)
    with open(src, "rb") as f:  # page-cache the input
        while f.read(64 << 20):
            pass
    spec = os.path.join(args.dir, "spec.json")
    with open(spec, "w") as f:
        json.dump(SPEC, f)
    out = os.path.join(args.dir, "out.npy")
    out_bytes = args.rows * 28 * 28 * 4
    extra = ["--threads", str(args.threads)] if args.threads else []

    times = {"npyflow": [], "npyflow_flush": [], "numpy": [], "numpy_flush": [], "dd": []}
    for trial in range(args.trials):
        sync_and_remove(out)
        t, f = run_npyflow(args.npyflow, src, out, spec, extra)
        times["npyflow"].append(t)
        times["npyflow_flush"].append(f)
        sync_and_remove(out)
        t, f = run_numpy(src, out, flush=True)
        times["numpy"].append(t)
        times["numpy_flush"].append(f)
        sync_and_remove(out)
        times["dd"].append(run_dd(out, out_bytes))
        sync_and_remove(out)
        print(f"trial {trial + 1}: npyflow {times['npyflow'][-1]:.3f} s, numpy {times['numpy'][-1]:.3f} s, "
              f"dd {times['dd'][-1]:.3f} s", flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    gbs = lambda s: out_bytes / s / 1e9  # noqa: E731
    result = {
        "rows": args.rows, "trials": args.trials, "output_bytes": out_bytes, "cores": os.cpu_count(),
        "median_seconds": med,
        "npyflow_rows_per_s": args.rows / med["npyflow"],
        "npyflow_out_GBps": gbs(med["npyflow"]),
        "numpy_out_GBps": gbs(med["numpy"]),
        "dd_page_cache_GBps": gbs(med["dd"]),
        "npyflow_over_numpy": med["numpy"] / med["npyflow"],
        "npyflow_over_numpy_with_flush": (med["numpy"] + med["numpy_flush"]) / (med["npyflow"] + med["npyflow_flush"]),
        "npyflow_fraction_of_dd": med["dd"] / med["npyflow"],
    }
    print(f"npyflow: {result['npyflow_rows_per_s']:.0f} rows/s, {result['npyflow_out_GBps']:.2f} GB/s out "
          f"(+{med['npyflow_flush']:.2f} s fsync)")
    print(f"numpy:   {args.rows / med['numpy']:.0f} rows/s, {result['numpy_out_GBps']:.2f} GB/s out "
          f"(+{med['numpy_flush']:.2f} s flush)")
    print(f"dd:      {result['dd_page_cache_GBps']:.2f} GB/s into the page cache")
    print(f"npyflow / numpy: {result['npyflow_over_numpy']:.2f}x "
          f"({result['npyflow_over_numpy_with_flush']:.2f}x with both flushing to disk)")
    print(f"npyflow / dd:    {100 * result['npyflow_fraction_of_dd']:.0f}% of page-cache write bandwidth")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
