#!/usr/bin/python3
"""The scoring job as a PyTorch user would write it: a DataLoader over np.load(mmap_mode="r"),
the same preprocessing and weights, torch.set_num_threads(THREADS), outputs into open_memmap.
Needs python3-torch (with libopenblas0-pthread, or linear layers run on reference BLAS).

usage: pytorch_score_baseline.py INPUT.npy SPEC.json WEIGHTS.npz OUTPUT.npy THREADS BATCH
Prints one JSON line: {"rows": ..., "seconds": ..., "rows_per_s": ...}.
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn


class Rows(torch.utils.data.Dataset):
    def __init__(self, path):
        self.x = np.load(path, mmap_mode="r")

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.from_numpy(np.array(self.x[i]))


def build(spec, weights):
    layers = []
    for l in spec["layers"]:
        t = l["type"]
        if t == "linear":
            w = weights[l["name"] + ".weight"]
            m = nn.Linear(w.shape[1], w.shape[0])
        elif t == "conv2d":
            w = weights[l["name"] + ".weight"]
            m = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:])
        elif t == "batchnorm":
            m = nn.BatchNorm2d(len(weights[l["name"] + ".weight"]))
        elif t == "relu":
            m = nn.ReLU()
        elif t == "maxpool2d":
            m = nn.MaxPool2d(l["kernel_size"])
        elif t == "flatten":
            m = nn.Flatten()
        else:
            raise SystemExit(f"layer {t} not in this baseline")
        if "name" in l:
            m.load_state_dict({k[len(l["name"]) + 1:]: torch.from_numpy(v) for k, v in weights.items()
                               if k.startswith(l["name"] + ".")}, strict=False)
        layers.append(m)
    return nn.Sequential(*layers).eval()


def main():
    src, spec_path, weights_path, out_path, threads, batch = sys.argv[1:7]
    torch.set_num_threads(int(threads))
    spec = json.load(open(spec_path))
    model = build(spec, dict(np.load(weights_path)))
    data = Rows(src)
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float32, shape=(len(data), 10))
    loader = torch.utils.data.DataLoader(data, batch_size=int(batch), num_workers=0)
    factor, mean, std = np.float32(0.00392156862745098), np.float32(0.2860), np.float32(0.3530)
    start = time.perf_counter()
    at = 0
    with torch.no_grad():
        for x in loader:
            x = ((x.float() * factor) - mean) / std
            y = model(x.reshape(-1, 1, 28, 28)).numpy()
            out[at:at + len(y)] = y
            at += len(y)
    seconds = time.perf_counter() - start
    del out
    print(json.dumps({"rows": at, "seconds": seconds, "rows_per_s": at / seconds}))


if __name__ == "__main__":
    main()
