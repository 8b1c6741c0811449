#!/usr/bin/python3
"""`npyflow score` against PyTorch's outputs (fixtures from make_torch_fixtures.py), as a user
runs it: every model and weight layout within 1e-4 (absolute) with identical argmax, the
output kinds, bit-identical outputs across threads/batch/prefetch, and every validation error
class, built from the fixtures' weights at test time.

usage: test_score_cli.py [--list | --case NAME] NPYFLOW_BINARY
(one CTest a case, see tests/cli_cases.py)
"""
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cli_cases  # noqa: E402
from cli_cases import case, check  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def score(inp, spec, weights, out, *extra):
    return subprocess.run([NPYFLOW, "score", inp, "-o", out, "--model", spec, "--weights", weights, "-q", *extra],
                          capture_output=True, text=True, timeout=300)


def fx(name):
    return os.path.join(FIX, name)


@case
def test_against_pytorch(tmp):
    """Every fixture: the chains in fixtures/, the graphs and sequence models in fixtures/graph/
    (make_graph_fixtures.py), each in both layouts, with every form of its weights."""
    worst = 0.0
    for folder in (FIX, os.path.join(FIX, "graph")):
        manifest = json.load(open(os.path.join(folder, "manifest.json")))
        for m in manifest["models"]:
            want = np.load(os.path.join(folder, m["expected"]))
            for weights in [m["weights"]] + m.get("also_weights", []):
                out = os.path.join(tmp, "out.npy")
                r = score(os.path.join(folder, m["input"]), os.path.join(folder, m["spec"]),
                          os.path.join(folder, weights), out)
                check(r.returncode == 0, f"{m['name']} with {weights}: exit {r.returncode}: {r.stderr}")
                if r.returncode != 0:
                    continue
                got = np.load(out)
                diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
                worst = max(worst, diff)
                check(got.shape == want.shape and diff <= 1e-4,
                      f"{m['name']} with {weights}: shape {got.shape} (want {want.shape}), max abs diff {diff}")
                # The class (or, for outputs per time step, each step's class) PyTorch picks.
                check(got.shape == want.shape and (got.argmax(-1) == want.argmax(-1)).all(),
                      f"{m['name']} with {weights}: argmax differs")
    print(f"largest difference from PyTorch: {worst:.3g}")


@case
def test_directory_of_npy(tmp):
    """Keras-named weights as a directory of .npy files: "0/kernel:0" is 0/kernel:0.npy."""
    folder = os.path.join(tmp, "weights_dir")
    with np.load(fx("cnn_a.keras.npz")) as archive:
        for key in archive.files:
            os.makedirs(os.path.dirname(os.path.join(folder, key)), exist_ok=True)
            np.save(os.path.join(folder, key + ".npy"), archive[key])
    out = os.path.join(tmp, "dir.npy")
    r = score(fx("cnn_a.keras.input.npy"), fx("cnn_a.keras.spec.json"), folder, out)
    check(r.returncode == 0, f"directory of .npy: {r.stderr}")
    if r.returncode == 0:
        check(np.abs(np.load(out) - np.load(fx("cnn_a.expected.npy"))).max() <= 1e-4, "directory of .npy: values")


@case
def test_stats_trace_and_thread_budget(tmp):
    x = np.concatenate([np.load(fx("cnn_a.input.npy"))] * 60)  # 2220 rows
    src = os.path.join(tmp, "obs.npy")
    np.save(src, x)
    out, trace = os.path.join(tmp, "obs_out.npy"), os.path.join(tmp, "trace.json")
    r = subprocess.run([NPYFLOW, "score", src, "-o", out, "--model", fx("cnn_a.spec.json"), "--weights",
                        fx("cnn_a.npz"), "--batch", "100", "--stats", "--trace", trace], capture_output=True, text=True)
    check(r.returncode == 0, f"--stats --trace: {r.stderr}")
    for stage in ("read", "preprocess", "infer", "write"):
        check(f"\n{stage} " in "\n" + r.stderr, f"--stats lists stage {stage}: {r.stderr!r}")
    check("bottleneck: " in r.stderr and "batches in flight: mean" in r.stderr, f"--stats: {r.stderr!r}")
    events = [e for e in json.load(open(trace))["traceEvents"] if e["ph"] == "X"]
    for stage in ("read", "preprocess", "infer", "write"):
        spans = [e for e in events if e["name"] == stage]
        check(sorted(e["args"]["batch"] for e in spans) == list(range(23)), f"trace: one {stage} span per batch")
        check(all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans), f"trace: {stage} spans have times")
    # --threads 1: TBB and oneDNN together use one thread, so CPU time stays near wall time.
    p = subprocess.Popen([NPYFLOW, "score", src, "-o", out, "--model", fx("cnn_a.spec.json"), "--weights",
                          fx("cnn_a.npz"), "--threads", "1", "-q"])
    t0 = time.monotonic()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    cpu = usage.ru_utime + usage.ru_stime
    check(status == 0 and cpu <= 1.15 * wall + 0.05, f"--threads 1 used {cpu:.2f} s CPU in {wall:.2f} s wall")


@case
def test_bench(tmp):
    """npyflow bench: every measurement of every sweep point, consistent figures (no timing asserted)."""
    x = np.concatenate([np.load(fx("cnn_a.input.npy"))] * 10)
    src = os.path.join(tmp, "bench_in.npy")
    np.save(src, x)
    r = subprocess.run([NPYFLOW, "bench", src, "--model", fx("cnn_a.spec.json"), "--weights", fx("cnn_a.npz"),
                        "--batch", "16,64", "--threads", "1,2", "--prefetch", "2", "--scratch", tmp, "--json"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"bench: {r.stderr}")
    if r.returncode != 0:
        return
    data = json.loads(r.stdout)
    check(data["rows"] == 370 and len(data["results"]) == 4, f"bench sweep points: {len(data['results'])}")
    for point in data["results"]:
        for what in ("ceiling", "read_preprocess", "full", "serial"):
            check(point[what]["seconds"] > 0 and point[what]["rows_per_s"] > 0, f"bench {what} figures")
        check(abs(point["full_over_ceiling"] - point["ceiling"]["seconds"] / point["full"]["seconds"]) < 1e-9,
              "bench full/ceiling is the ratio of the times")
    check(not os.path.exists(os.path.join(tmp, "npyflow-bench-output.npy")), "bench keeps no output")
    r = subprocess.run([NPYFLOW, "bench", src, "--model", fx("cnn_a.spec.json"), "--weights", fx("cnn_a.npz"),
                        "--batch", "16,x"], capture_output=True, text=True)
    check(r.returncode == 2 and "comma-separated list of integers" in r.stderr, f"bench bad list: {r.stderr!r}")


@case
def test_output_kinds_and_labels(tmp):
    want = np.load(fx("cnn_b.expected.npy"))  # raw logits: the model ends in a linear layer
    out = os.path.join(tmp, "probs.npy")
    r = score(fx("cnn_b.input.npy"), fx("cnn_b.spec.json"), fx("cnn_b.npz"), out, "--output-kind", "probs")
    probs = np.load(out)
    e = np.exp(want - want.max(1, keepdims=True))
    check(r.returncode == 0 and np.abs(probs - e / e.sum(1, keepdims=True)).max() < 1e-5, "--output probs is softmax")
    r = score(fx("mlp.input.npy"), fx("mlp.spec.json"), fx("mlp.npz"), out, "--output-kind", "probs")
    check(np.abs(np.load(out) - np.exp(np.load(fx("mlp.expected.npy")))).max() < 1e-5,
          "--output probs after log_softmax is exp")
    out = os.path.join(tmp, "argmax.npy")
    labels = os.path.join(tmp, "labels.npy")
    truth = want.argmax(1).astype(np.uint8)
    truth[:10] = (truth[:10] + 1) % 4  # ten wrong on purpose
    np.save(labels, truth)
    r = subprocess.run([NPYFLOW, "score", fx("cnn_b.input.npy"), "-o", out, "--model", fx("cnn_b.spec.json"),
                        "--weights", fx("cnn_b.npz"), "--output-kind", "argmax", "--labels", labels, "-q"],
                       capture_output=True, text=True)
    got = np.load(out)
    check(r.returncode == 0 and got.dtype == np.int64 and got.shape == (37,) and (got == want.argmax(1)).all(),
          f"--output argmax: {r.stderr}")
    check("accuracy: 0.7297 (27 of 37 correct)" in r.stdout, f"--labels accuracy: {r.stdout!r}")
    # Output kinds and inference modes are names; anything else is a usage error.
    for option, value in (("--output-kind", "2"), ("--output-kind", "softmax"), ("--output", "softmax"),
                          ("--inference", "1")):
        r = subprocess.run([NPYFLOW, "score", fx("cnn_b.input.npy"), "-o", os.path.join(tmp, "never.npy"), "--model",
                            fx("cnn_b.spec.json"), "--weights", fx("cnn_b.npz"), option, value],
                           capture_output=True, text=True)
        check(r.returncode == 2 and f"{option}: {value} not in" in r.stderr, f"{option} {value}: {r.stderr!r}")
    # The old spelling of --output-kind still works, and says what to write instead.
    r = score(fx("cnn_b.input.npy"), fx("cnn_b.spec.json"), fx("cnn_b.npz"), out, "--output", "argmax")
    check(r.returncode == 0 and "--output argmax is deprecated: write --output-kind argmax" in r.stderr
          and np.load(out).dtype == np.int64, f"--output argmax (deprecated): {r.returncode} {r.stderr!r}")
    # Labels that do not fit: an error naming the file, and no output.
    for bad, fragment in ((truth[:30], "labels must be 37 integers, one per row, got uint8 (30,)"),
                          (truth.astype(np.float32), "got float32 (37,)")):
        np.save(labels, bad)
        out = os.path.join(tmp, "labels_out.npy")
        r = subprocess.run([NPYFLOW, "score", fx("cnn_b.input.npy"), "-o", out, "--model", fx("cnn_b.spec.json"),
                            "--weights", fx("cnn_b.npz"), "--labels", labels], capture_output=True, text=True)
        check(r.returncode == 1 and f"{labels}: labels must be" in r.stderr and fragment in r.stderr
              and not os.path.exists(out),
              f"bad labels: {r.returncode} {r.stderr!r}")


@case
def test_determinism(tmp):
    """Bit-identical outputs whatever the threads, batch and prefetch: a chain CNN, a residual
    network, a stacked LSTM behind an embedding, a bidirectional GRU and transformer encoders."""
    graph = os.path.join(FIX, "graph")
    for name, folder in [("cnn_a", FIX), ("resblock", graph), ("lstm_classifier", graph), ("gru_classifier", graph),
                         ("transformer", graph)]:
        x = np.concatenate([np.load(os.path.join(folder, f"{name}.input.npy"))] * 66)  # 1110 or more rows
        src = os.path.join(tmp, "many.npy")
        np.save(src, x)
        digests = set()
        for threads, batch, prefetch in [(1, 1110, 1), (2, 1, 2), (2, 37, 4), (4, 100, 3), (2, 1000, 8)]:
            out = os.path.join(tmp, f"det_{threads}_{batch}_{prefetch}.npy")
            r = score(src, os.path.join(folder, f"{name}.spec.json"), os.path.join(folder, f"{name}.npz"), out,
                      "--threads", str(threads), "--batch", str(batch), "--prefetch", str(prefetch))
            check(r.returncode == 0, f"{name} determinism run: {r.stderr}")
            digests.add(open(out, "rb").read())
        check(len(digests) == 1, f"{name}: outputs differ across threads/batch/prefetch ({len(digests)} distinct)")


@case
def test_inference_auto(tmp):
    """--inference auto (the default) times the job's first rows both ways, keeps the faster,
    says which in the summary, and writes the bytes --inference streams writes."""
    x = np.concatenate([np.load(fx("cnn_a.input.npy"))] * 60)  # 2220 rows: enough to time on 2 threads
    src = os.path.join(tmp, "auto.npy")
    np.save(src, x)
    outs = {}
    for mode in ("auto", "streams", "parallel"):
        outs[mode] = os.path.join(tmp, f"auto_{mode}.npy")
        r = subprocess.run([NPYFLOW, "score", src, "-o", outs[mode], "--model", fx("cnn_a.spec.json"), "--weights",
                            fx("cnn_a.npz"), "--threads", "2", "--inference", mode], capture_output=True, text=True)
        check(r.returncode == 0, f"--inference {mode}: {r.stderr}")
        if mode == "auto" and len(os.sched_getaffinity(0)) < 2:  # --threads 2 is lowered to 1
            check("inference streams (auto: one thread, the two are the same)]" in r.stderr, f"auto: {r.stderr!r}")
        elif mode == "auto":
            check(re.search(r"inference (streams|parallel) \(auto: ([0-9.]+[kM]? rows/s against [0-9.]+[kM]? in "
                            r"(parallel|streams)|parallel was faster, .* but its last bits differ from streams' on "
                            r"this machine)\)\]", r.stderr) is not None, f"auto's summary: {r.stderr!r}")
        else:
            check(f"; inference {mode}]" in r.stderr, f"--inference {mode}'s summary: {r.stderr!r}")
    # auto keeps parallel only where its bits are streams' (parallel's may differ in the last bit).
    check(open(outs["auto"], "rb").read() == open(outs["streams"], "rb").read(), "--inference auto: other bytes")
    r = subprocess.run([NPYFLOW, "score", fx("cnn_a.input.npy"), "-o", os.path.join(tmp, "few.npy"), "--model",
                        fx("cnn_a.spec.json"), "--weights", fx("cnn_a.npz"), "--threads", "2"], capture_output=True,
                       text=True)
    check(r.returncode == 0 and ("inference streams (auto: too few rows to time)]" in r.stderr
                                 or len(os.sched_getaffinity(0)) < 2),
          f"auto on 37 rows: {r.stderr!r}")


@case
def test_sequence_outputs(tmp):
    """A network whose output has a time axis, (T, classes): the output keeps it, probs and
    argmax are per time step, and --labels (one class a row) is refused."""
    graph = os.path.join(FIX, "graph")
    want = np.load(os.path.join(graph, "bilstm_seq.expected.npy"))  # (17, 10, 3)
    args = [os.path.join(graph, "bilstm_seq.input.npy"), os.path.join(graph, "bilstm_seq.spec.json"),
            os.path.join(graph, "bilstm_seq.npz")]
    out = os.path.join(tmp, "seq.npy")
    r = score(*args, out, "--output-kind", "argmax")
    check(r.returncode == 0 and np.array_equal(np.load(out), want.argmax(-1)), f"argmax per time step: {r.stderr}")
    r = score(*args, out, "--output-kind", "probs")
    e = np.exp(want - want.max(-1, keepdims=True))
    check(r.returncode == 0 and np.abs(np.load(out) - e / e.sum(-1, keepdims=True)).max() < 1e-5,
          f"probs per time step: {r.stderr}")
    labels = os.path.join(tmp, "seq_labels.npy")
    np.save(labels, np.zeros(17, dtype=np.int64))
    r = score(*args, out, "--labels", labels)
    check(r.returncode == 1 and "--labels needs one class score vector a row, but the network gives (10, 3) a row"
          in r.stderr, f"--labels with (T, classes) outputs: {r.returncode} {r.stderr!r}")


@case
def test_validation_errors(tmp):
    base = dict(np.load(fx("mlp.npz")))
    spec = json.load(open(fx("mlp.spec.json")))

    def run_with(weights, spec_changes=None, *extra, name="w"):
        path = os.path.join(tmp, f"{name}.npz")
        np.savez(path, **weights)
        s = json.loads(json.dumps(spec))
        if spec_changes:
            spec_changes(s)
        spec_path = os.path.join(tmp, f"{name}.spec.json")
        json.dump(s, open(spec_path, "w"))
        return score(fx("mlp.input.npy"), spec_path, path, os.path.join(tmp, "never.npy"), *extra)

    def fails(r, *fragments):
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 1, f"{fragments[0]}: exit {r.returncode}: {r.stderr!r}")
        check(all(l.startswith("npyflow: error:") for l in lines), f"every line is an error line: {r.stderr!r}")
        for f in fragments:
            check(f in r.stderr, f"message lacks {f!r}: {r.stderr!r}")
        check(not os.path.exists(os.path.join(tmp, "never.npy")), "no output after an error")

    w = dict(base)
    del w["3.weight"]
    fails(run_with(w), "layers[3] (linear \"3\"): missing array '3.weight'", "closest names present: '3.bias'")
    w = dict(base)
    w["0.weight"] = base["0.weight"].T.copy()
    fails(run_with(w), "array '0.weight' has shape (20, 16)", "looks like Keras (in,out); set \"layout\": \"keras\"")
    w = dict(base)
    w["0.weight"] = np.full_like(base["0.weight"], np.nan)
    fails(run_with(w), "layers[0] (linear \"0\"): array '0.weight' holds nan at index 0")
    w = dict(base)
    w["1.running_var"] = -base["1.running_var"]
    fails(run_with(w), "layers[1] (batchnorm \"1\"): array '1.running_var' holds a negative variance")
    w = dict(base)
    w["3.bias"] = np.arange(8, dtype=np.int64)
    fails(run_with(w), "array '3.bias' has dtype int64, which cannot be used as weights")
    fails(run_with(base, lambda s: s["layers"][0].update(out_features=17)), "expected (17, 20) (out, in)")
    # Several problems: one line each.
    w = dict(base)
    del w["3.weight"]
    w["1.running_var"] = -base["1.running_var"]
    r = run_with(w)
    fails(r, "missing array '3.weight'", "negative variance")
    check(len(r.stderr.strip().splitlines()) == 2, f"two problems, two lines: {r.stderr!r}")
    # Unused arrays: a warning, an error with --strict.
    w = dict(base)
    w["extra.weight"] = np.zeros(3, np.float32)
    r = run_with(w)
    check(r.returncode == 0 and "npyflow: warning: unused array 'extra.weight'" in r.stderr, f"unused: {r.stderr!r}")
    os.remove(os.path.join(tmp, "never.npy"))
    fails(run_with(w, None, "--strict"), "unused array 'extra.weight'", "(--strict)")
    # state_dict prefixes: reported with the closest names, accepted with strip_prefix.
    prefixed = {"module." + k: v for k, v in base.items()}
    fails(run_with(prefixed), "missing array '0.weight'", "'module.0.weight'")
    r = run_with(prefixed, lambda s: s.update(strip_prefix="module."))
    check(r.returncode == 0, f"strip_prefix: {r.stderr}")
    os.remove(os.path.join(tmp, "never.npy"))
    # Per-layer overrides.
    renamed = dict(base)
    renamed["fc/w"] = renamed.pop("0.weight")
    r = run_with(renamed, lambda s: s["layers"][0].update(params={"weight": "fc/w"}))
    check(r.returncode == 0, f"params override: {r.stderr}")
    os.remove(os.path.join(tmp, "never.npy"))
    # Conv weights in the other layout.
    conv = dict(np.load(fx("cnn_a.npz")))
    conv["0.weight"] = conv["0.weight"].transpose(2, 3, 1, 0).copy()
    path = os.path.join(tmp, "conv.npz")
    np.savez(path, **conv)
    fails(score(fx("cnn_a.input.npy"), fx("cnn_a.spec.json"), path, os.path.join(tmp, "never.npy")),
          "looks like Keras HWIO; set \"layout\": \"keras\"")
    # Spec errors.
    fails(run_with(base, lambda s: s["layers"].append({"type": "conv3d"})),
          "layers[7]: unknown layer type 'conv3d' (known: linear")
    fails(run_with(base, lambda s: s["layers"][0].update(kernel=3)), "layers[0] (linear \"0\"): unknown option 'kernel'")
    fails(run_with(base, lambda s: s.update(input={"shape": [21]})),
          "the preprocess ops produce samples of float32 (20,), but the network's input is float32 (21,)")
    fails(run_with(base, lambda s: s.update(preprocess=[{"op": "reshape", "shape": [4, 5]}])),
          "the preprocess ops produce samples of float32 (4, 5), but the network's input is float32 (20,)")


def setup(npyflow):
    global NPYFLOW
    NPYFLOW = npyflow


if __name__ == "__main__":
    sys.exit(cli_cases.main(setup))
