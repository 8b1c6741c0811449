#!/usr/bin/python3
"""Runs every libFuzzer target for a set time, keeping what each finds in a corpus that
grows from run to run, and reports executions, coverage and findings per target.

    bench/fuzz.py --seconds 600                 # each target 10 minutes, two at a time
    bench/fuzz.py --seconds 60 --targets npz --json fuzz.json

The targets are built by the sanitizer build of scripts/test.sh (clang, ASan + UBSan,
NPYFLOW_FUZZ=ON); this script configures and builds it when it is missing. The corpus lives
in fuzz-corpus/<target>/ (not committed; the committed seed corpus in tests/fuzz/corpus/ is
only read). A crash, leak or sanitizer report is saved under fuzz-corpus/<target>/findings/
and makes the script exit 1. docs/reliability.md records the runs.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ("npy", "npz", "model_spec", "weights")


def build(build_dir):
    if all(os.path.exists(os.path.join(build_dir, "tests", f"fuzz_{t}")) for t in TARGETS):
        return
    env = dict(os.environ, CC="clang", CXX="clang++")
    subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                    "-DNPYFLOW_SANITIZE=address,undefined", "-DNPYFLOW_FUZZ=ON"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "--target", *[f"fuzz_{t}" for t in TARGETS]], check=True)


def fuzz(build_dir, corpus_root, target, seconds):
    corpus = os.path.join(corpus_root, target)
    findings = os.path.join(corpus, "findings")
    os.makedirs(findings, exist_ok=True)
    seeds = os.path.join(ROOT, "tests", "fuzz", "corpus", target)
    before = len([f for f in os.listdir(corpus) if os.path.isfile(os.path.join(corpus, f))])
    start = time.time()
    r = subprocess.run([os.path.join(build_dir, "tests", f"fuzz_{target}"), corpus, seeds,
                        f"-max_total_time={seconds}", "-max_len=8192", "-print_final_stats=1",
                        f"-artifact_prefix={findings}/"], capture_output=True, text=True)
    log = r.stdout + r.stderr
    execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    after = len([f for f in os.listdir(corpus) if os.path.isfile(os.path.join(corpus, f))])
    with open(os.path.join(corpus, "last_run.log"), "w") as f:
        f.write(log)
    return {
        "target": target,
        "seconds": round(time.time() - start, 1),
        "executions": int(execs[-1]) if execs else 0,
        "coverage_edges": int(cov[-1][0]) if cov else 0,
        "features": int(cov[-1][1]) if cov else 0,
        "corpus_before": before,
        "corpus_after": after,
        "exit_code": r.returncode,
        "findings": sorted(os.listdir(findings)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="seconds per target (default 600)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated (default: all)")
    parser.add_argument("--parallel", type=int, default=os.cpu_count(), help="targets at once (default: cores)")
    parser.add_argument("--build", default=os.path.join(ROOT, "build-sanitize"), help="the sanitizer build directory")
    parser.add_argument("--corpus", default=os.path.join(ROOT, "fuzz-corpus"), help="where the corpora are kept")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; known: {', '.join(TARGETS)}")
    build(args.build)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        results = list(pool.map(lambda t: fuzz(args.build, args.corpus, t, args.seconds), targets))
    print(f"{'target':<12} {'seconds':>8} {'executions':>12} {'exec/s':>8} {'edges':>6} {'corpus':>13}  findings")
    for r in results:
        rate = r["executions"] / max(r["seconds"], 1e-9)
        print(f"{r['target']:<12} {r['seconds']:>8.0f} {r['executions']:>12,} {rate:>8,.0f} {r['coverage_edges']:>6} "
              f"{r['corpus_before']:>5} -> {r['corpus_after']:<5}  {', '.join(r['findings']) or 'none'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    bad = [r for r in results if r["findings"] or r["exit_code"] != 0]
    for r in bad:
        print(f"{r['target']}: exit {r['exit_code']}; see {os.path.join(args.corpus, r['target'], 'last_run.log')}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
