#!/usr/bin/python3
"""Peak RSS of a network run from 1, 2, 4 and 8 threads at once (bench/weight_sharing.cpp,
a fresh process each), on an MLP with 67 MB of float32 weights: it grows with the threads'
activations only, since the weights are reordered once and shared.

usage: weight_sharing.py BUILD_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

build = sys.argv[1]
with tempfile.TemporaryDirectory() as tmp:
    rng = np.random.default_rng(1)
    sizes = [2048, 4096, 2048, 10]
    weights = {}
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        weights[f"{i}.weight"] = rng.standard_normal((b, a), dtype=np.float32) * 0.02
        weights[f"{i}.bias"] = np.zeros(b, dtype=np.float32)
        layers.append({"type": "linear", "name": str(i)})
        if i + 2 < len(sizes):
            layers.append({"type": "relu"})
    np.savez(os.path.join(tmp, "w.npz"), **weights)
    json.dump({"input": {"shape": [sizes[0]]}, "layers": layers}, open(os.path.join(tmp, "s.json"), "w"))
    for threads in (1, 2, 4, 8):
        r = subprocess.run([os.path.join(build, "bench", "weight_sharing"), os.path.join(tmp, "s.json"),
                            os.path.join(tmp, "w.npz"), str(threads)], capture_output=True, text=True, check=True)
        print(r.stdout.strip())
