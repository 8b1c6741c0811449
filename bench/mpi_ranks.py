#!/usr/bin/python3
"""Scoring throughput as one process and as MPI ranks on this machine, in interleaved trials
(medians): one process with every core; `mpirun -np 1 --bind-to none`; `mpirun -np 2` with
Open MPI's default binding (a core each) and with `--bind-to none`. The benchmark MLP and CNN
(make_bench_models.py) over page-cached uint8 28x28 images.

usage: mpi_ranks.py BUILD_DIR [--dir DIR] [--rows N] [--trials T]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--dir", default="/tmp/npyflow-bench")
    p.add_argument("--rows", type=int, default=500_000)
    p.add_argument("--trials", type=int, default=5)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    models = os.path.join(a.dir, "models")
    subprocess.run([sys.executable, os.path.join(HERE, "make_bench_models.py"), models], check=True, capture_output=True)
    images = os.path.join(a.dir, f"mpi_images_{a.rows}.npy")
    if not os.path.exists(images):
        np.save(images, np.random.default_rng(0).integers(0, 256, (a.rows, 28, 28), dtype=np.uint8))
    npyflow = os.path.join(a.build, "npyflow")
    launch = ["mpirun", "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    layouts = {
        "1 process": [npyflow],
        "mpirun -np 1 --bind-to none": [*launch, "-np", "1", "--bind-to", "none", npyflow],
        "mpirun -np 2 (bound to a core each)": [*launch, "-np", "2", npyflow],
        "mpirun -np 2 --bind-to none": [*launch, "-np", "2", "--bind-to", "none", npyflow],
    }
    out = os.path.join(a.dir, "mpi_out.npy")
    for model in ("mlp", "cnn"):
        rates = {name: [] for name in layouts}
        for _ in range(a.trials):
            for name, prefix in layouts.items():
                r = subprocess.run([*prefix, "score", images, "-o", out, "--model", os.path.join(models, f"{model}.json"),
                                    "--weights", os.path.join(models, f"{model}.npz")],
                                   capture_output=True, text=True, check=True)
                m = re.search(r"(\d+) rows/s in total", r.stderr) or re.search(r"(\d+) rows/s", r.stderr)
                rates[name].append(int(m.group(1)))
                os.remove(out)
        base = statistics.median(rates["1 process"])
        print(f"{model}, {a.rows} rows, median of {a.trials}:")
        for name, values in rates.items():
            med = statistics.median(values)
            print(f"  {name:<38} {med:>9,.0f} rows/s  {med / base:5.2f}x  (range {min(values):,}-{max(values):,})")


if __name__ == "__main__":
    main()
