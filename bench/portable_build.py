#!/usr/bin/python3
"""A portable build (npyflow's code for a baseline CPU, -march=x86-64-v2) against a native one
(-march=native), in one run on this machine: `npyflow bench` on the same input and model with
each binary in turn, K trials, medians of the preprocessing (read+preprocess rows/s, which runs
npyflow's own kernels) and of the whole job (full rows/s; oneDNN dispatches by CPU itself in
both). The target: the portable build within 3% of the native one.

usage: portable_build.py NATIVE_BINARY PORTABLE_BINARY [--rows N] [--trials K] [--json OUT]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "examples", "fashion_mnist")


def bench(binary, images, model):
    r = subprocess.run([binary, "bench", images, "--model", os.path.join(EXAMPLES, f"{model}.json"), "--weights",
                        os.path.join(EXAMPLES, f"{model}.npz"), "--batch", "1024", "--json"],
                       capture_output=True, text=True, check=True, timeout=600)
    result = json.loads(r.stdout)["results"][0]
    return result["read_preprocess"]["rows_per_s"], result["full"]["rows_per_s"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("native")
    p.add_argument("portable")
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--json")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images = os.path.join(tmp, "images.npy")
        np.save(images, np.random.default_rng(0).integers(0, 256, (a.rows, 28, 28), dtype=np.uint8))
        report = {"rows": a.rows, "trials": a.trials, "models": {}}
        for model in ("mlp", "cnn"):
            runs = {"native": [], "portable": []}
            for _ in range(a.trials):  # interleaved, so drift on a shared machine hits both
                for name, binary in (("native", a.native), ("portable", a.portable)):
                    runs[name].append(bench(binary, images, model))
            med = {name: [statistics.median(v[i] for v in runs[name]) for i in (0, 1)] for name in runs}
            ratios = [med["portable"][i] / med["native"][i] for i in (0, 1)]
            report["models"][model] = {"native": med["native"], "portable": med["portable"],
                                       "portable_over_native": {"read_preprocess": ratios[0], "full": ratios[1]}}
            print(f"{model}: read+preprocess {med['portable'][0]:.0f} vs {med['native'][0]:.0f} rows/s "
                  f"({ratios[0]:.3f}); full {med['portable'][1]:.0f} vs {med['native'][1]:.0f} rows/s ({ratios[1]:.3f})")
    if a.json:
        json.dump(report, open(a.json, "w"), indent=1)
    worst = min(min(m["portable_over_native"].values()) for m in report["models"].values())
    print(f"portable/native, worst of both models and both measures: {worst:.3f} (target >= 0.97)")


if __name__ == "__main__":
    sys.exit(main())
