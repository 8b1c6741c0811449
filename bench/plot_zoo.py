#!/usr/bin/python3
"""Plots bench/model_zoo.py --json: each model's rows/s in npyflow (the whole job), PyTorch and
ONNX Runtime, relative to npyflow's compute ceiling. Needs python3-matplotlib.

usage: plot_zoo.py ZOO.json OUT.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, out):
    rows = json.load(open(src))
    series = [("npyflow score (whole job)", "npyflow_rows_per_s"), ("PyTorch (in memory)", "pytorch_rows_per_s"),
              ("ONNX Runtime (in memory)", "ort_rows_per_s")]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(series)
    for i, (label, key) in enumerate(series):
        values = [r.get(key, 0) / max(r["ceiling_streams_rows_per_s"], r["serial_parallel_rows_per_s"]) for r in rows]
        bars = ax.bar([x + i * width for x in range(len(rows))], values, width, label=label)
        for bar, r in zip(bars, rows):
            ax.annotate(f"{r.get(key, 0):.0f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                        va="bottom", fontsize=7)
    ax.axhline(1.0, color="gray", linewidth=0.8, linestyle=":")
    ax.set_xticks([x + width for x in range(len(rows))], [r["model"] for r in rows])
    ax.set_ylabel("rows/s relative to npyflow's compute ceiling")
    ax.set_title(f"bench/model_zoo.py, {rows[0]['threads']} threads (labels: rows/s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:])
