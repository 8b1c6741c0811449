#!/usr/bin/python3
"""Plots a sweep from `npyflow bench --json` (rows/s of each measurement against batch size,
one line per thread count). Needs python3-matplotlib.

usage: plot.py BENCH.json OUT.png
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, out):
    data = json.load(open(src))
    results = data["results"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for threads in sorted({r["threads"] for r in results}):
        rows = sorted((r for r in results if r["threads"] == threads), key=lambda r: r["batch"])
        for what, style in (("ceiling", ":"), ("full", "-"), ("serial", "--")):
            ax.plot([r["batch"] for r in rows], [r[what]["rows_per_s"] for r in rows], style, marker="o",
                    label=f"{what}, {threads} threads")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (rows)")
    ax.set_ylabel("rows/s")
    ax.set_title(f"npyflow bench: {os.path.basename(data['model'])} ({data['rows']} rows)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
