#!/usr/bin/python3
"""Python data loading: npyflow.Dataset against torch.utils.data.DataLoader, measured in one run.

Every contender feeds the same PyTorch loop over a synthetic uint8 (N, 28, 28) .npy, preprocessed
as examples/fashion_mnist/cnn.json says (cast to float32, times 1/255, minus 0.2860, over 0.3530,
each row reshaped to (1, 28, 28)), in batches of --batch rows:

  npyflow.Dataset      npyflow.Dataset(path, spec=cnn.json, batch=B, threads=T), each batch
                       handed to torch.from_numpy (no copy)
  DataLoader, per row  what a typical user writes: a map-style dataset over
                       np.load(path, mmap_mode="r") returning one preprocessed row per
                       __getitem__, DataLoader(batch_size=B) collating them; 0, 1 and 2 workers
  DataLoader, batched  what a careful user writes: the same dataset returning a whole
                       preprocessed slice of B rows per index, DataLoader(batch_size=None);
                       0, 1 and 2 workers

The consumer is fixed: --consumer sum adds up t.sum() (cheap, so the loader is what is measured);
--consumer mlp runs a small torch MLP (784-128-10, no_grad) forward on each batch, to show how
much of the loading each contender hides behind real work. Both can be run in one go
(--consumer sum,mlp). torch.set_num_threads is the core count.

Before timing, the script asserts on a small array that npyflow's batches equal the
DataLoaders' within 1e-6 (the same work), and every timed pass checks its row count and the
sum of its batches against npyflow's. The input is written to a temporary directory and read
once (timed: the warm-up) so every contender finds it in the page cache. Each trial runs every
contender once, in turn; figures are medians over the trials, with the spread (min-max).
A pass is timed from making the loader to the end of the loop (DataLoader workers start, and
are shut down, in every pass: persistent_workers=False). CPU seconds are this process's
(all its threads) plus its exited children's (the DataLoader workers, which are checked to
have exited), from resource.getrusage, read 0.2 s after the pass so that threads still
spinning at its end are charged to it. Other processes' CPU time during each pass (/proc/stat
less ours) is recorded too: each pass waits for a quiet machine (others under 5% of a core for
a second) and is run again, up to 3 more times, when others used over 10% of a core during it.

usage: python_loader.py [--rows N] [--batch B] [--threads T] [--trials K] [--consumer sum|mlp|sum,mlp]
                        [--json OUT] [--plot OUT.png]
  (run it with the module on the path: PYTHONPATH=build/python bench/python_loader.py ...)
"""
import argparse
import json
import math
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import npyflow

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "examples", "fashion_mnist", "cnn.json")
MEAN, STD = 0.2860, 0.3530  # the spec's normalize op
SETTLE_S = 0.2  # after a pass, before reading its CPU time
NOISY = 0.1  # a pass during which other processes used more than this share of a core is run again,
TRIES = 4    # at most this many times in all
WORKERS = (0, 1, 2)


class RowDataset(Dataset):
    """One preprocessed row per index: the DataLoader collates batch_size of them."""

    def __init__(self, path):
        self.images = np.load(path, mmap_mode="r")

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x = self.images[i].astype(np.float32) * (1 / 255)
        x = (x - MEAN) / STD
        return torch.from_numpy(x.reshape(1, 28, 28))


class SliceDataset(Dataset):
    """Index k: rows [k*batch, (k+1)*batch), preprocessed in place in one go (DataLoader(batch_size=None))."""

    def __init__(self, path, batch):
        self.images = np.load(path, mmap_mode="r")
        self.batch = batch

    def __len__(self):
        return math.ceil(len(self.images) / self.batch)

    def __getitem__(self, k):
        x = self.images[k * self.batch:(k + 1) * self.batch].astype(np.float32)
        x *= 1 / 255
        x -= MEAN
        x /= STD
        return torch.from_numpy(x.reshape(-1, 1, 28, 28))


def contenders(batch, threads):
    """name -> a function of the .npy's path returning an iterable of float32 tensors (B, 1, 28, 28)."""

    def npyflow_batches(path):
        for x in npyflow.Dataset(path, spec=SPEC, batch=batch, threads=threads):
            yield torch.from_numpy(x)

    def per_row(workers):
        return lambda path: DataLoader(RowDataset(path), batch_size=batch, num_workers=workers,
                                       persistent_workers=False)

    def batched(workers):
        return lambda path: DataLoader(SliceDataset(path, batch), batch_size=None, num_workers=workers,
                                       persistent_workers=False)

    out = {f"npyflow.Dataset ({threads} thread{'s' * (threads != 1)})": npyflow_batches}
    workers = {w: f"{w} worker{'s' * (w != 1)}" for w in WORKERS}
    out.update({f"DataLoader per row, {workers[w]}": per_row(w) for w in WORKERS})
    out.update({f"DataLoader batched, {workers[w]}": batched(w) for w in WORKERS})
    return out


def make_consumer(kind):
    """t -> a float: what the training loop does with each batch."""
    if kind == "sum":
        return lambda t: t.sum().item()
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)).eval()

    def forward(t):
        with torch.no_grad():
            return mlp(t).sum().item()

    return forward


def cpu_seconds():
    """This process's CPU time (every thread) plus that of its children waited for."""
    return sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ("ru_utime", "ru_stime"))


def machine_busy_seconds():
    """CPU seconds every process on the machine has used since boot (/proc/stat), to tell others' load."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed_pass(make_batches, path, consume):
    """(wall seconds, CPU seconds, rows, sum of consume's results, CPU seconds of other processes)
    for one pass over the file."""
    busy_before, cpu_before = machine_busy_seconds(), cpu_seconds()
    start = time.perf_counter()
    batches = iter(make_batches(path))
    rows, checksum = 0, 0.0
    for t in batches:
        checksum += consume(t)
        rows += len(t)
    del batches  # a DataLoader's workers are shut down (joined) by now
    wall = time.perf_counter() - start
    assert not multiprocessing.active_children(), "DataLoader workers still running after the pass"
    time.sleep(SETTLE_S)
    cpu = cpu_seconds() - cpu_before
    return wall, cpu, rows, checksum, max(0.0, machine_busy_seconds() - busy_before - cpu)


def wait_for_quiet(limit_s=120.0):
    """Waits (at most limit_s) until other processes have used under 5% of a core for a second."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        before = machine_busy_seconds()
        time.sleep(1.0)
        if machine_busy_seconds() - before < 0.05:
            return


def quiet_pass(make_batches, path, consume):
    """timed_pass on a quiet machine: run again when others used more than NOISY of a core during it.
    Returns timed_pass's figures and the tries it took."""
    for tries in range(1, TRIES + 1):
        wait_for_quiet()
        figures = timed_pass(make_batches, path, consume)
        wall, other = figures[0], figures[-1]
        if other <= NOISY * (wall + SETTLE_S):
            break
    return figures + (tries,)


def check_same_batches(tmp, batch, threads):
    """npyflow's batches equal both DataLoader datasets' within 1e-6: the contenders do the same work."""
    rows = 3 * batch + batch // 3 + 1  # a short last batch too
    path = os.path.join(tmp, "check.npy")
    np.save(path, np.random.default_rng(1).integers(0, 256, size=(rows, 28, 28), dtype=np.uint8))
    named = contenders(batch, threads)
    reference = [t.numpy() for t in next(iter(named.values()))(path)]
    assert sum(len(x) for x in reference) == rows
    for name, make_batches in list(named.items())[1:]:
        if "0 workers" not in name:
            continue  # workers run the same __getitem__ as 0 workers
        got = [t.numpy() for t in make_batches(path)]
        assert len(got) == len(reference), f"{name}: {len(got)} batches, npyflow {len(reference)}"
        for a, b in zip(reference, got):
            assert a.shape == b.shape and a.dtype == b.dtype, f"{name}: {b.dtype} {b.shape}, npyflow {a.dtype} {a.shape}"
            diff = float(np.abs(a - b).max())
            assert diff <= 1e-6, f"{name}: differs from npyflow by {diff}"
    os.remove(path)
    print(f"check: npyflow's batches equal the DataLoaders' within 1e-6 ({rows} rows, batch {batch})", flush=True)


def make_input(path, rows):
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, 28, 28))
    rng = np.random.default_rng(0)
    for i in range(0, rows, 100000):
        out[i:i + 100000] = rng.integers(0, 256, size=(min(100000, rows - i), 28, 28), dtype=np.uint8)
    out.flush()
    del out


def warm_up(path):
    """Reads the file once so that every contender finds it in the page cache; (seconds, GB/s)."""
    start = time.perf_counter()
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass
    seconds = time.perf_counter() - start
    return seconds, os.path.getsize(path) / seconds / 1e9


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "npyflow": npyflow.__version__}


def measure(path, rows, args, consumer):
    named = contenders(args.batch, args.threads)
    consume = make_consumer(consumer)
    walls = {name: [] for name in named}
    cpus = {name: [] for name in named}
    others = {name: [] for name in named}
    tries = {name: [] for name in named}
    expected = None  # npyflow's checksum, the first contender's
    for trial in range(args.trials):
        for name, make_batches in named.items():
            wall, cpu, seen, checksum, other, took = quiet_pass(make_batches, path, consume)
            assert seen == rows, f"{name}: {seen} rows, expected {rows}"
            expected = checksum if expected is None else expected
            assert math.isclose(checksum, expected, rel_tol=1e-5), f"{name}: checksum {checksum}, npyflow {expected}"
            walls[name].append(wall)
            cpus[name].append(cpu)
            others[name].append(other)
            tries[name].append(took)
        print(f"{consumer}, trial {trial + 1}: " + ", ".join(f"{n} {walls[n][-1]:.2f} s" for n in named), flush=True)

    results = {}
    for name in named:
        rates = [rows / w for w in walls[name]]
        results[name] = {"wall_s": walls[name], "cpu_s": cpus[name], "others_cpu_s": others[name],
                         "tries": tries[name],
                         "rows_per_s": statistics.median(rates),
                         "rows_per_s_min": min(rates), "rows_per_s_max": max(rates),
                         "cpu_s_median": statistics.median(cpus[name]),
                         "cpu_s_per_M_rows": statistics.median(cpus[name]) / rows * 1e6}
    ours = results[next(iter(named))]
    for r in results.values():
        r["npyflow_over_rows_per_s"] = ours["rows_per_s"] / r["rows_per_s"]
        r["npyflow_over_cpu_per_row"] = ours["cpu_s_per_M_rows"] / r["cpu_s_per_M_rows"]
    return results


def print_table(consumer, rows, args, results):
    print(f"\nconsumer {consumer}: {rows} rows, batch {args.batch}, medians of {args.trials} trials (spread min-max)")
    print(f"{'contender':<32} {'rows/s':>10} {'spread':>19} {'CPU s':>7} {'CPU s/1M rows':>13} "
          f"{'npyflow/x rows/s':>16} {'npyflow/x CPU':>13} {'others CPU s':>12}")
    for name, r in results.items():
        spread = f"{r['rows_per_s_min']:,.0f}-{r['rows_per_s_max']:,.0f}"
        print(f"{name:<32} {r['rows_per_s']:>10,.0f} {spread:>19} {r['cpu_s_median']:>7.2f} "
              f"{r['cpu_s_per_M_rows']:>13.2f} {r['npyflow_over_rows_per_s']:>15.2f}x "
              f"{r['npyflow_over_cpu_per_row']:>12.2f}x {max(r['others_cpu_s']):>12.2f}")
    reruns = sum(t - 1 for r in results.values() for t in r["tries"])
    print(f"(others CPU s: the most other processes used during one of its passes; {reruns} passes were run "
          "again for others' load)")


def plot(report, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    consumers = list(report["results"])
    fig, axes = plt.subplots(2, len(consumers), figsize=(6.5 * len(consumers), 7), squeeze=False)
    for col, consumer in enumerate(consumers):
        results = report["results"][consumer]
        names = list(results)[::-1]  # npyflow on top
        colors = ["tab:orange" if n.startswith("npyflow") else "tab:blue" if "per row" in n else "tab:green"
                  for n in names]
        rates = [results[n]["rows_per_s"] for n in names]
        errors = [[results[n]["rows_per_s"] - results[n]["rows_per_s_min"] for n in names],
                  [results[n]["rows_per_s_max"] - results[n]["rows_per_s"] for n in names]]
        top, bottom = axes[0][col], axes[1][col]
        top.barh(names, rates, xerr=errors, color=colors)
        for y, n in enumerate(names):
            top.annotate(f" {results[n]['rows_per_s']:,.0f}", (results[n]["rows_per_s_max"], y), va="center",
                         fontsize=7)
        top.set_xscale("log")
        top.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        top.set_xlabel("rows/s, log scale (median; whiskers: min-max)")
        top.set_title(f"consumer: {consumer}")
        cpu = [results[n]["cpu_s_per_M_rows"] for n in names]
        bottom.barh(names, cpu, color=colors)
        for y, v in enumerate(cpu):
            bottom.annotate(f" {v:.2f}", (v, y), va="center", fontsize=7)
        bottom.set_xlabel("CPU seconds per 1M rows (process + workers)")
        for ax in (top, bottom):
            ax.tick_params(axis="y", labelsize=8)
        bottom.margins(x=0.15)
        top.set_xlim(right=top.get_xlim()[1] * 3)
    m = report["machine"]
    fig.suptitle(f"bench/python_loader.py: {report['rows']:,} rows of uint8 28x28 -> float32, batch "
                 f"{report['batch']}; {m['cores']} cores ({m['cpu']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="npyflow.Dataset's (default: the cores)")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--consumer", default="sum", help="sum, mlp, or both: sum,mlp")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--plot", help="draw them into this .png (matplotlib)")
    args = parser.parse_args()
    consumers = args.consumer.split(",")
    if not set(consumers) <= {"sum", "mlp"}:
        parser.error("--consumer: sum, mlp or sum,mlp")

    torch.set_num_threads(os.cpu_count())
    report = {"machine": machine(), "rows": args.rows, "batch": args.batch, "threads": args.threads,
              "trials": args.trials, "load_average_before": os.getloadavg()[0], "results": {}}
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores; python {m['python']}, numpy {m['numpy']}, "
          f"torch {m['torch']} ({m['torch_threads']} threads), npyflow {m['npyflow']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="npyflow-python-loader-") as tmp:
        check_same_batches(tmp, args.batch, args.threads)
        path = os.path.join(tmp, f"uint8_{args.rows}x28x28.npy")
        make_input(path, args.rows)
        seconds, gbps = warm_up(path)
        report["warm_up"] = {"seconds": seconds, "GBps": gbps}
        print(f"warm-up: read {os.path.getsize(path) / 1e6:.0f} MB in {seconds:.3f} s ({gbps:.2f} GB/s)", flush=True)
        for consumer in consumers:
            report["results"][consumer] = measure(path, args.rows, args, consumer)
    report["load_average_after"] = os.getloadavg()[0]
    for consumer, results in report["results"].items():
        print_table(consumer, args.rows, args, results)
    print(f"\nload average (1 min): {report['load_average_before']:.2f} before, {report['load_average_after']:.2f} after")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if args.plot:
        plot(report, args.plot)


if __name__ == "__main__":
    sys.exit(main())
