#!/usr/bin/python3
"""Draws a --trace file (Chrome trace events) as a per-thread timeline, one colour per stage,
to see at a glance how reading, preprocessing, inference and writing overlap. Needs
python3-matplotlib. (Perfetto or chrome://tracing open the same file interactively.)

usage: trace_timeline.py TRACE.json OUT.png [--first-ms N]
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"read": "tab:blue", "preprocess": "tab:green", "infer": "tab:orange", "write": "tab:red"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("trace")
    p.add_argument("out")
    p.add_argument("--first-ms", type=float, default=0, help="only the first N milliseconds")
    a = p.parse_args()
    events = [e for e in json.load(open(a.trace))["traceEvents"] if e["ph"] == "X"]
    t0 = min(e["ts"] for e in events)
    if a.first_ms:
        events = [e for e in events if e["ts"] - t0 < a.first_ms * 1e3]
    threads = sorted({e["tid"] for e in events})
    fig, ax = plt.subplots(figsize=(11, 1 + 0.8 * len(threads)))
    for e in events:
        row = threads.index(e["tid"])
        ax.broken_barh([((e["ts"] - t0) / 1e3, max(e["dur"] / 1e3, 0.01))], (row - 0.4, 0.8),
                       color=COLOURS.get(e["name"], "grey"))
    ax.set_yticks(range(len(threads)), [f"thread {t}" for t in threads])
    ax.set_xlabel("ms")
    ax.legend(handles=[matplotlib.patches.Patch(color=c, label=n) for n, c in COLOURS.items()], ncol=4,
              loc="upper right", fontsize=8)
    ax.set_title("npyflow: one span per batch per stage")
    fig.tight_layout()
    fig.savefig(a.out, dpi=90)


if __name__ == "__main__":
    main()
