#!/usr/bin/python3
"""The throughput issue's measurements, in one run:

  npyflow bench      ceiling (network alone on in-memory batches), read+preprocess, full, serial
  bare_matmul_chain  the MLP's matmuls with nothing but oneDNN (the ceiling's own ceiling)
  PyTorch            pytorch_score_baseline.py: DataLoader over np.load(mmap_mode="r")

on Fashion-MNIST-shaped uint8 input (page-cached) with the benchmark models from
make_bench_models.py (MLP 784-512-256-10; CNN conv32-bn-relu-pool-conv64-relu-pool-fc128-fc10),
and prints each ratio against its target.

usage: scoring_throughput.py BUILD_DIR [--rows N] [--threads T] [--batch B[,B...]] [--dir DIR]
                                       [--json OUT] [--no-pytorch]
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--rows", type=int, default=500000)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--batch", default="1024")
    p.add_argument("--dir", default="/tmp/npyflow-bench")
    p.add_argument("--json")
    p.add_argument("--no-pytorch", action="store_true")
    a = p.parse_args()

    os.makedirs(a.dir, exist_ok=True)
    models = os.path.join(a.dir, "models")
    subprocess.run([sys.executable, os.path.join(HERE, "make_bench_models.py"), models], check=True,
                   capture_output=True)
    src = os.path.join(a.dir, f"uint8_{a.rows}x28x28.npy")
    if not os.path.exists(src):
        np.save(src, np.random.default_rng(0).integers(0, 256, size=(a.rows, 28, 28), dtype=np.uint8))
    with open(src, "rb") as f:
        while f.read(64 << 20):
            pass
    npyflow = os.path.join(a.build, "npyflow")
    first_batch = int(a.batch.split(",")[0])
    result = {"rows": a.rows, "threads": a.threads, "batch": a.batch}
    for name in ("mlp", "cnn"):
        spec, weights = os.path.join(models, f"{name}.json"), os.path.join(models, f"{name}.npz")
        bench = run_json([npyflow, "bench", src, "--model", spec, "--weights", weights, "--batch", a.batch,
                          "--threads", str(a.threads), "--scratch", a.dir, "--json"])
        result[name] = {"npyflow": bench}
        best = max(bench["results"], key=lambda r: r["full"]["rows_per_s"])
        result[name]["best"] = best
        if not a.no_pytorch:
            torch_run = run_json([sys.executable, os.path.join(HERE, "pytorch_score_baseline.py"), src, spec, weights,
                                  os.path.join(a.dir, "pytorch_out.npy"), str(a.threads), str(first_batch)])
            result[name]["pytorch"] = torch_run
            result[name]["npyflow_over_pytorch"] = best["full"]["rows_per_s"] / torch_run["rows_per_s"]
    bare = run_json([os.path.join(a.build, "bench", "bare_matmul_chain"), str(a.rows), str(first_batch),
                     str(a.threads)])
    result["bare_matmul_chain"] = bare
    mlp_first = result["mlp"]["npyflow"]["results"][0]
    result["mlp"]["ceiling_over_bare"] = mlp_first["ceiling"]["rows_per_s"] / bare["rows_per_s"]

    def line(what, value, target):
        mark = "met" if value >= target else "NOT met"
        print(f"  {what:<34} {value:6.2f}   (target {target}: {mark})")

    for name, targets in (("mlp", (0.9, 2.2)), ("cnn", (0.85, 4.0))):
        best = result[name]["best"]
        print(f"{name}: batch {best['batch']}, {best['threads']} threads: full {best['full']['rows_per_s']:.0f} rows/s "
              f"({best['full']['gflop_per_s']:.1f} GFLOP/s), ceiling {best['ceiling']['rows_per_s']:.0f}, "
              f"read+preprocess {best['read_preprocess']['rows_per_s']:.0f}, serial {best['serial']['rows_per_s']:.0f}")
        line("full / ceiling", best["full_over_ceiling"], targets[0])
        line("full / serial", best["full_over_serial"], 1.0)
        if name == "mlp":
            line("ceiling / bare oneDNN matmul chain", result["mlp"]["ceiling_over_bare"], 0.85)
        if "npyflow_over_pytorch" in result[name]:
            print(f"  PyTorch DataLoader job: {result[name]['pytorch']['rows_per_s']:.0f} rows/s")
            line("npyflow / PyTorch", result[name]["npyflow_over_pytorch"], targets[1])
    if a.json:
        json.dump(result, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
