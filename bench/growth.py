#!/usr/bin/python3
"""Scoring throughput and peak RSS as the input grows: 50 MB, 4 GB, and larger than the free
RAM, with the benchmark MLP (make_bench_models.py). Inputs are sparse .npy files (zeros), so
they cost no disk space or write time; the kernel still pages them through the page cache.

usage: growth.py BUILD_DIR [--dir DIR] [--threads T] [--sizes-gb 0.05,4,26]
"""
import argparse
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--dir", default="/tmp/npyflow-bench")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--sizes-gb", default="0.05,4,26")
    a = p.parse_args()
    models = os.path.join(a.dir, "models")
    subprocess.run([sys.executable, os.path.join(HERE, "make_bench_models.py"), models], check=True, capture_output=True)
    free_gb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1e9
    print(f"free RAM now: {free_gb:.1f} GB")
    for size in (float(s) for s in a.sizes_gb.split(",")):
        rows = int(size * 1e9) // 784
        src = os.path.join(a.dir, f"sparse_{size}gb.npy")
        with open(src, "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (rows, 28, 28)})
            f.truncate(f.tell() + rows * 784)
        out = os.path.join(a.dir, "growth_out.npy")
        r = subprocess.run([os.path.join(a.build, "npyflow"), "score", src, "-o", out, "--model",
                            os.path.join(models, "mlp.json"), "--weights", os.path.join(models, "mlp.npz"),
                            "--threads", str(a.threads)], capture_output=True, text=True, check=True)
        m = re.search(r"scored (\d+) rows in ([0-9.]+) s: (\d+) rows/s.*peak RSS (\d+) MB", r.stderr)
        print(f"{size:6.2f} GB input ({rows} rows): {int(m.group(3))} rows/s, peak RSS {m.group(4)} MB", flush=True)
        os.remove(out)
        os.remove(src)


if __name__ == "__main__":
    main()
