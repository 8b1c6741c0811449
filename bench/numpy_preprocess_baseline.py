#!/usr/bin/python3
"""The baseline a user would write: the same transform as npyflow's benchmark spec, done with
numpy in chunks of rows into np.lib.format.open_memmap.

usage: numpy_preprocess_baseline.py INPUT.npy OUTPUT.npy [--chunk ROWS] [--flush]
Prints one JSON line: {"seconds": ..., "flush_seconds": ...}.
"""
import argparse
import json
import time

import numpy as np

FACTOR, MEAN, STD = 0.00392156862745098, 0.2860, 0.3530


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--chunk", type=int, default=10000)
    parser.add_argument("--flush", action="store_true", help="also flush the output to disk (msync)")
    args = parser.parse_args()

    start = time.perf_counter()
    x = np.load(args.input, mmap_mode="r")
    n = x.shape[0]
    out = np.lib.format.open_memmap(args.output, mode="w+", dtype=np.float32, shape=(n, 1) + x.shape[1:])
    for i in range(0, n, args.chunk):
        chunk = x[i:i + args.chunk].astype(np.float32)
        out[i:i + args.chunk] = (((chunk * np.float32(FACTOR)) - np.float32(MEAN)) / np.float32(STD))[:, None]
    seconds = time.perf_counter() - start
    flush_start = time.perf_counter()
    if args.flush:
        out.flush()
    flush_seconds = time.perf_counter() - flush_start
    del out
    print(json.dumps({"seconds": seconds, "flush_seconds": flush_seconds}))


if __name__ == "__main__":
    main()
