#!/usr/bin/python3
"""Soak: one long scoring job over an input larger than the free RAM, with checkpoints on,
sampling the process's resident memory and the journal's progress as it runs. Memory must
be as flat at the end as at the start, and throughput must not sag.

The input is a sparse .npy (zeros: no disk space or write time), read through the page cache
like any file; the model is the benchmark MLP (make_bench_models.py).

usage: soak.py BUILD_DIR [--dir DIR] [--size-gb G (default: 1.25 x free RAM)] [--threads T]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def status_mb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return None


def journal_rows(out):
    try:
        with open(out + ".journal") as f:
            return json.load(f)["rows_done"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--dir", default="/tmp/npyflow-bench")
    p.add_argument("--size-gb", type=float)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    models = os.path.join(a.dir, "models")
    subprocess.run([sys.executable, os.path.join(HERE, "make_bench_models.py"), models], check=True, capture_output=True)
    free_gb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1e9
    size = a.size_gb or round(free_gb * 1.25, 1)
    rows = int(size * 1e9) // 784
    src = os.path.join(a.dir, "soak_input.npy")
    with open(src, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (rows, 28, 28)})
        f.truncate(f.tell() + rows * 784)
    out = os.path.join(a.dir, "soak_out.npy")
    print(f"free RAM {free_gb:.1f} GB; input {size} GB ({rows:,} rows of 28x28 uint8); {a.threads} threads", flush=True)

    proc = subprocess.Popen([os.path.join(a.build, "npyflow"), "score", src, "-o", out, "--model",
                             os.path.join(models, "mlp.json"), "--weights", os.path.join(models, "mlp.npz"),
                             "--threads", str(a.threads)], stderr=subprocess.PIPE, text=True)
    start = time.time()
    samples = []  # (seconds, rows journaled, RSS MB)
    next_report = 0.1
    while proc.poll() is None:
        time.sleep(1)
        rss = status_mb(proc.pid, "VmRSS")
        if rss is None:
            break
        done = journal_rows(out)
        samples.append((time.time() - start, done, rss))
        if done is not None and done / rows >= next_report:
            print(f"{samples[-1][0]:7.0f} s  {done / rows:5.0%} journaled  RSS {rss:6.0f} MB", flush=True)
            next_report += 0.1
    _, err = proc.communicate()
    if proc.returncode != 0:
        print(err)
        sys.exit(1)
    print(err.strip())
    os.remove(out)
    os.remove(src)

    # Memory once the job is going (5-15% of the run, past loading the model) and at its end.
    total = samples[-1][0]
    first = [s for s in samples if total * 0.05 <= s[0] <= total * 0.15]
    last = [s for s in samples if s[0] >= total * 0.9]
    rss_first, rss_last = max(s[2] for s in first), max(s[2] for s in last)

    def rate(window):
        with_rows = [s for s in window if s[1] is not None]
        if len(with_rows) < 2 or with_rows[-1][0] == with_rows[0][0]:
            return float("nan")
        return (with_rows[-1][1] - with_rows[0][1]) / (with_rows[-1][0] - with_rows[0][0])

    mid = [s for s in samples if total * 0.1 <= s[0] <= total * 0.5]
    end = [s for s in samples if total * 0.5 <= s[0]]
    print(f"RSS: {rss_first:.0f} MB over 5-15% of the run, {rss_last:.0f} MB over its last tenth "
          f"(change {rss_last - rss_first:+.0f} MB); journaled rate {rate(mid):,.0f} rows/s in 10-50%, "
          f"{rate(end):,.0f} rows/s in 50-100%")


if __name__ == "__main__":
    main()
