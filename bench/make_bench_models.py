#!/usr/bin/python3
"""The benchmark models of the throughput issue, with random (He-initialized) weights, as spec
JSON + state_dict .npz in OUTDIR:

  mlp: 784-512-256-10, ReLU
  cnn: conv3x3(32)-bn-relu-maxpool-conv3x3(64)-relu-maxpool-fc128-relu-fc10

Both take Fashion-MNIST-shaped uint8 (28, 28) rows with the usual preprocessing.
usage: make_bench_models.py OUTDIR
"""
import json
import os
import sys

import numpy as np

PREPROCESS = [{"op": "cast", "dtype": "float32"}, {"op": "scale", "factor": 0.00392156862745098},
              {"op": "normalize", "mean": [0.2860], "std": [0.3530], "axis": 0},
              {"op": "reshape", "shape": [1, 28, 28]}]


def he(rng, shape, fan_in):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    mlp = {"0.weight": he(rng, (512, 784), 784), "0.bias": np.zeros(512, np.float32),
           "2.weight": he(rng, (256, 512), 512), "2.bias": np.zeros(256, np.float32),
           "4.weight": he(rng, (10, 256), 256), "4.bias": np.zeros(10, np.float32)}
    mlp_spec = {"layout": "torch", "input": {"shape": [1, 28, 28]}, "preprocess": PREPROCESS, "layers": [
        {"type": "flatten"}, {"type": "linear", "name": "0", "out_features": 512}, {"type": "relu"},
        {"type": "linear", "name": "2", "out_features": 256}, {"type": "relu"},
        {"type": "linear", "name": "4", "out_features": 10}]}
    cnn = {"0.weight": he(rng, (32, 1, 3, 3), 9), "0.bias": np.zeros(32, np.float32),
           "1.weight": np.ones(32, np.float32), "1.bias": np.zeros(32, np.float32),
           "1.running_mean": np.zeros(32, np.float32), "1.running_var": np.ones(32, np.float32),
           "4.weight": he(rng, (64, 32, 3, 3), 288), "4.bias": np.zeros(64, np.float32),
           "8.weight": he(rng, (128, 64 * 5 * 5), 1600), "8.bias": np.zeros(128, np.float32),
           "10.weight": he(rng, (10, 128), 128), "10.bias": np.zeros(10, np.float32)}
    cnn_spec = {"layout": "torch", "input": {"shape": [1, 28, 28]}, "preprocess": PREPROCESS, "layers": [
        {"type": "conv2d", "name": "0", "out_channels": 32, "kernel_size": 3}, {"type": "batchnorm", "name": "1"},
        {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
        {"type": "conv2d", "name": "4", "out_channels": 64, "kernel_size": 3}, {"type": "relu"},
        {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"},
        {"type": "linear", "name": "8", "out_features": 128}, {"type": "relu"},
        {"type": "linear", "name": "10", "out_features": 10}]}
    for name, weights, spec in (("mlp", mlp, mlp_spec), ("cnn", cnn, cnn_spec)):
        np.savez(os.path.join(out, f"{name}.npz"), **weights)
        json.dump(spec, open(os.path.join(out, f"{name}.json"), "w"), indent=1)
    print(f"wrote mlp and cnn to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
