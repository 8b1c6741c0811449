#!/usr/bin/python3
"""Real models, npyflow against PyTorch and ONNX Runtime, measured in one run on this machine:

  resnet18   CIFAR ResNet-18 (3x32x32; a 3x3 stem, 4 stages of 2 basic blocks, 11.2M weights)
  lstm       2-layer LSTM classifier (T=64, F=32, H=128, the last step into 10 classes)
  transformer  2 nn.TransformerEncoderLayer (T=128, d=256, 4 heads, feed-forward 1024), flattened
             into 10 classes

For each: `npyflow score` (the whole job: the .npy read from the page cache, the network, the
output written; --inference auto) and `npyflow bench`'s compute ceilings (the network alone on
in-memory batches, per-thread streams; and the serial job, one batch at a time with OpenMP on
every thread, a lower bound on the parallel way's ceiling); PyTorch (Debian's,
OpenBLAS; in-memory batches, torch.set_num_threads(T), no_grad); ONNX Runtime (the npm package
onnxruntime-node, 1.18's bundled libonnxruntime; in-memory batches, intraOpNumThreads T) on the
model exported by torch.onnx. Every baseline is given the advantage of in-memory inputs. Each
figure is the best of --trials runs, the trials taking each contender in turn; outputs are
checked against PyTorch's (1e-4).

usage: model_zoo.py BUILD_DIR [--ort DIR] [--threads T] [--trials K] [--json OUT]
  --ort: where `npm install --ignore-scripts onnxruntime-node@1.18.0` was run
         (scripts/install-deps.sh --bench does it in bench/.ort)
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        widths, cin = [64, 128, 256, 512], 64
        for i, w in enumerate(widths):
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, w, 1 if i == 0 else 2), BasicBlock(w, w, 1)))
            cin = w
        self.fc = nn.Linear(512, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(x.mean((2, 3)))


def resnet18_spec():
    layers = [{"type": "conv2d", "name": "conv1", "kernel_size": 3, "padding": 1, "bias": False},
              {"type": "batchnorm", "name": "bn1"}, {"type": "relu", "name": "stem"}]
    prev = "stem"
    for stage in range(4):
        for block in range(2):
            p = f"layer{stage + 1}.{block}"
            stride = 2 if stage > 0 and block == 0 else 1
            layers += [{"type": "conv2d", "name": f"{p}.conv1", "kernel_size": 3, "stride": stride, "padding": 1,
                        "bias": False, "inputs": [prev]},
                       {"type": "batchnorm", "name": f"{p}.bn1"}, {"type": "relu"},
                       {"type": "conv2d", "name": f"{p}.conv2", "kernel_size": 3, "padding": 1, "bias": False},
                       {"type": "batchnorm", "name": f"{p}.bn2"}]
            shortcut = prev
            if stage > 0 and block == 0:
                layers += [{"type": "conv2d", "name": f"{p}.downsample.0", "kernel_size": 1, "stride": 2,
                            "bias": False, "inputs": [prev]},
                           {"type": "batchnorm", "name": f"{p}.downsample.1"}]
                shortcut = f"{p}.downsample.1"
            layers += [{"type": "add", "inputs": [f"{p}.bn2", shortcut]}, {"type": "relu", "name": f"{p}.out"}]
            prev = f"{p}.out"
    layers += [{"type": "global_avgpool2d"}, {"type": "linear", "name": "fc"}]
    return {"layout": "torch", "input": {"shape": [3, 32, 32]}, "layers": layers}


class LstmClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(32, 128, num_layers=2, batch_first=True)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc(self.lstm(x)[0][:, -1, :])


def lstm_spec():
    return {"layout": "torch", "input": {"shape": [64, 32]},
            "layers": [{"type": "lstm", "name": "lstm", "hidden_size": 128, "num_layers": 2, "return_sequences": False},
                       {"type": "linear", "name": "fc"}]}


class TransformerClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.ModuleList(nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True)
                                     for _ in range(2))
        self.fc = nn.Linear(128 * 256, 10)

    def forward(self, x):
        for layer in self.encoder:
            x = layer(x)
        return self.fc(x.flatten(1))


def transformer_spec():
    return {"layout": "torch", "input": {"shape": [128, 256]},
            "layers": [{"type": "transformer_encoder", "name": "encoder.0", "nhead": 4},
                       {"type": "transformer_encoder", "name": "encoder.1", "nhead": 4},
                       {"type": "flatten"}, {"type": "linear", "name": "fc"}]}


# name: (model, spec, sample shape, rows, batch)
MODELS = {"resnet18": (ResNet18, resnet18_spec, (3, 32, 32), 1024, 64),
          "lstm": (LstmClassifier, lstm_spec, (64, 32), 16384, 256),
          "transformer": (TransformerClassifier, transformer_spec, (128, 256), 1024, 64)}

ORT_SCRIPT = r"""
const ort = require(process.argv[2]);
const fs = require('fs');
(async () => {
  const [model, input, rows, shape, batch, threads, trials, out] = process.argv.slice(3);
  const dims = JSON.parse(shape), n = Number(rows), b = Number(batch);
  const per = dims.reduce((a, d) => a * d, 1);
  const buf = fs.readFileSync(input);
  const x = new Float32Array(buf.buffer, buf.byteOffset, n * per);
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: Number(threads), interOpNumThreads: 1,
                                                      executionMode: 'sequential', graphOptimizationLevel: 'all'});
  let best = Infinity, result = [];
  for (let t = 0; t < Number(trials) + 1; ++t) {
    const start = process.hrtime.bigint();
    result = [];
    for (let r = 0; r < n; r += b) {
      const m = Math.min(b, n - r);
      const y = await s.run({x: new ort.Tensor('float32', x.subarray(r * per, (r + m) * per), [m, ...dims])});
      result.push(Float32Array.from(y.y.data));
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (t > 0) best = Math.min(best, seconds);  // the first pass warms up
  }
  const all = new Float32Array(result.reduce((a, r) => a + r.length, 0));
  let o = 0;
  for (const r of result) { all.set(r, o); o += r.length; }
  fs.writeFileSync(out, Buffer.from(all.buffer));
  console.log(JSON.stringify({seconds: best}));
})();
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--ort", default=os.path.join(HERE, ".ort"))
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--json")
    p.add_argument("--only", default="")
    a = p.parse_args()
    npyflow = os.path.join(a.build, "npyflow")
    ort_module = os.path.join(os.path.abspath(a.ort), "node_modules", "onnxruntime-node")  # node resolves from /tmp
    have_ort = os.path.isdir(os.path.join(ort_module, "bin"))
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (make, spec_of, shape, rows, batch) in MODELS.items():
            if a.only and name not in a.only.split(","):
                continue
            model = make().eval()
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
            x = torch.randn(rows, *shape)
            spec, weights, src = (os.path.join(tmp, f"{name}.{e}") for e in ("json", "npz", "npy"))
            json.dump(spec_of(), open(spec, "w"))
            np.savez(weights, **{k: v.numpy() for k, v in model.state_dict().items()})
            np.save(src, x.numpy())
            with torch.no_grad():
                want = torch.cat([model(x[r:r + batch]) for r in range(0, rows, batch)]).numpy()
            row = {"model": name, "rows": rows, "batch": batch, "threads": a.threads,
                   "weights_mb": sum(v.numel() for v in model.state_dict().values()) * 4 / 1e6}

            def npyflow_run():
                out = os.path.join(tmp, f"{name}.out.npy")
                r = subprocess.run([npyflow, "score", src, "-o", out, "--model", spec, "--weights", weights,
                                    "--threads", str(a.threads), "--batch", str(batch)],
                                   capture_output=True, text=True, check=True)
                row["npyflow_max_diff"] = float(np.abs(np.load(out) - want).max())
                row["npyflow_inference"] = re.search(r"inference (.*)\]", r.stderr).group(1)
                row["npyflow_summary"] = r.stderr.strip().splitlines()[-1]
                return float(re.search(r"rows in ([0-9.]+) s", r.stderr).group(1))

            bench = json.loads(subprocess.run([npyflow, "bench", src, "--model", spec, "--weights", weights, "--threads",
                                               str(a.threads), "--batch", str(batch), "--scratch", tmp, "--json"],
                                              capture_output=True, text=True, check=True).stdout)["results"][0]
            row["ceiling_streams_rows_per_s"] = bench["ceiling"]["rows_per_s"]
            row["serial_parallel_rows_per_s"] = bench["serial"]["rows_per_s"]

            def torch_run():
                with torch.no_grad():
                    start = time.perf_counter()
                    for r in range(0, rows, batch):
                        model(x[r:r + batch])
                    return time.perf_counter() - start
            torch_run()  # warm-up
            runners = {"npyflow": npyflow_run, "pytorch": torch_run}

            if have_ort:
                onnx_path, raw, out = (os.path.join(tmp, f"{name}.{e}") for e in ("onnx", "f32", "ort.f32"))
                torch.onnx.export(model, x[:2], onnx_path, input_names=["x"], output_names=["y"],
                                  dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=13)
                x.numpy().tofile(raw)
                script = os.path.join(tmp, "ort.js")
                open(script, "w").write(ORT_SCRIPT)

                def ort_run():  # a warm-up pass, then one timed
                    r = subprocess.run(["node", script, ort_module, onnx_path, raw, str(rows), json.dumps(list(shape)),
                                        str(batch), str(a.threads), "1", out],
                                       capture_output=True, text=True, check=True)
                    row["ort_max_diff"] = float(np.abs(np.fromfile(out, np.float32).reshape(want.shape) - want).max())
                    return json.loads(r.stdout)["seconds"]
                runners["ort"] = ort_run

            # Trials interleave the contenders, so that a slower spell of this shared machine
            # falls on each of them rather than on one; each keeps its best.
            seconds = {k: [] for k in runners}
            for _ in range(a.trials):
                for k, run in runners.items():
                    seconds[k].append(run())
            row["npyflow_rows_per_s"] = rows / min(seconds["npyflow"])
            row["pytorch_rows_per_s"] = rows / min(seconds["pytorch"])
            if have_ort:
                row["ort_rows_per_s"] = rows / min(seconds["ort"])
                # npyflow against ONNX Runtime trial by trial: the spread of the ratio.
                row["npyflow_vs_ort_by_trial"] = [o / n for n, o in zip(seconds["npyflow"], seconds["ort"])]
            best_ceiling = max(row["ceiling_streams_rows_per_s"], row["serial_parallel_rows_per_s"])
            row["npyflow_vs_best_ceiling"] = row["npyflow_rows_per_s"] / best_ceiling
            row["npyflow_vs_pytorch"] = row["npyflow_rows_per_s"] / row["pytorch_rows_per_s"]
            if have_ort:
                row["npyflow_vs_ort"] = row["npyflow_rows_per_s"] / row["ort_rows_per_s"]
            print(json.dumps(row), flush=True)
            results.append(row)
    if a.json:
        json.dump(results, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
