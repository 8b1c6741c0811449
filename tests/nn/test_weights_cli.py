#!/usr/bin/python3
"""Weights as users saved them (fixtures/formats/, make_weight_format_fixtures.py), through the
CLI: each loads and scores to PyTorch's outputs (1e-4); convert writes what numpy reads; inspect
lists them; spec --from-keras and --draft write specs that bind; score --dry-run and
--reference; and every refusal, checked by its text: an old checkpoint, a file in the wrong
place, parameters() without running statistics, a wrapper's prefix, a 1-D input of one sample.

usage: test_weights_cli.py [--list | --case NAME] NPYFLOW_BINARY
(one CTest a case, see tests/cli_cases.py)
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cli_cases  # noqa: E402
from cli_cases import case, check  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
FORMATS = os.path.join(FIX, "formats")


def npyflow(*args):
    return subprocess.run([NPYFLOW, *args], capture_output=True, text=True, timeout=300)


def fx(name):
    return os.path.join(FIX, name)


def fm(name):
    return os.path.join(FORMATS, name)


def score(inp, spec, weights, out, *extra):
    return npyflow("score", inp, "-o", out, "--model", spec, "--weights", weights, "-q", *extra)


def matches_pytorch(out, expected, what):
    got, want = np.load(out), np.load(expected)
    diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    check(diff <= 1e-4, f"{what}: max abs diff {diff} against PyTorch")
    return diff


def refused(r, text, what):
    check(r.returncode != 0, f"{what}: exit {r.returncode}, want an error")
    check(text in r.stderr, f"{what}: stderr lacks {text!r}: {r.stderr!r}")


@case
def test_every_format_scores_like_pytorch(tmp):
    out = os.path.join(tmp, "out.npy")
    torch_inputs = (fx("cnn_b.input.npy"), fx("cnn_b.spec.json"))
    keras_inputs = (fx("cnn_b.keras.input.npy"), fx("cnn_b.keras.spec.json"))
    cases = [
        (torch_inputs, "cnn_b.pth", []),  # a transposed view and two views of one storage among its tensors
        (torch_inputs, "cnn_b.checkpoint.pth", []),  # the model found beside Adam's state
        (torch_inputs, "cnn_b.checkpoint.pth", ["--weights-key", "model"]),
        (keras_inputs, "cnn_b.keras.h5", []),
        (keras_inputs, "cnn_b.keras_model.h5", []),
        (keras_inputs, "cnn_b.keras_list.npy", []),  # np.save(model.get_weights())
    ]
    worst = 0.0
    for (inp, spec), weights, extra in cases:
        r = score(inp, spec, fm(weights), out, *extra)
        check(r.returncode == 0, f"{weights} {extra}: exit {r.returncode}: {r.stderr}")
        if r.returncode == 0:
            worst = max(worst, matches_pytorch(out, fx("cnn_b.expected.npy"), weights))
    for weights in ("mlp.dict.npy", "mlp.protocol0.pkl"):
        r = score(fx("mlp.input.npy"), fx("mlp.spec.json"), fm(weights), out)
        check(r.returncode == 0, f"{weights}: exit {r.returncode}: {r.stderr}")
        if r.returncode == 0:
            worst = max(worst, matches_pytorch(out, fx("mlp.expected.npy"), weights))
    # The state_dict at a checkpoint's root, beside EMA weights: asked for, never guessed.
    refused(score(*torch_inputs, fm("cnn_b.ema.pth"), out),
            "the pickle holds 2 dicts of arrays: '.' (the root's own 11 arrays), 'ema' (11 arrays); pass --weights-key",
            "root arrays beside a nested dict")
    r = score(*torch_inputs, fm("cnn_b.ema.pth"), out, "--weights-key", ".")
    check(r.returncode == 0, f"--weights-key .: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        worst = max(worst, matches_pytorch(out, fx("cnn_b.expected.npy"), "--weights-key ."))
    # A spec without "layout": a checkpoint's format says PyTorch's, an .h5's Keras's.
    for spec, weights, inp in ((fx("cnn_b.spec.json"), "cnn_b.pth", fx("cnn_b.input.npy")),
                               (fx("cnn_b.keras.spec.json"), "cnn_b.keras.h5", fx("cnn_b.keras.input.npy"))):
        unstated = json.load(open(spec))
        del unstated["layout"]
        path = os.path.join(tmp, "unstated.json")
        json.dump(unstated, open(path, "w"))
        r = score(inp, path, fm(weights), out)
        check(r.returncode == 0, f"{weights} with no layout stated: exit {r.returncode}: {r.stderr}")
        if r.returncode == 0:
            matches_pytorch(out, fx("cnn_b.expected.npy"), f"{weights} with no layout stated")
    print(f"every format: worst max abs diff against PyTorch {worst:.3g}")


@case
def test_refusals_name_the_cause(tmp):
    out = os.path.join(tmp, "out.npy")
    cnn = (fx("cnn_b.input.npy"), fx("cnn_b.spec.json"))
    refused(score(*cnn, fm("cnn_b.legacy.pth"), out),
            "an old PyTorch checkpoint (before 1.6); re-save it with torch.save(obj, path, "
            "_use_new_zipfile_serialization=True)", "legacy checkpoint")
    refused(score(*cnn, fm("cnn_b.parameters.pth"), out),
            "missing array '2.running_mean'", "parameters only")
    refused(score(*cnn, fm("whole_model.pth"), out),
            "the pickle asks for 'torch.nn.modules.container.Sequential', which is not an array, list, tuple or dict; "
            "npyflow loads only numpy's and PyTorch's arrays and never runs code (a whole model saved with "
            "torch.save(model)? save model.state_dict() instead)", "torch.save(model)")
    refused(score(*cnn, fm("cnn_b.parameters.pth"), out),
            "saved with model.parameters() rather than state_dict()?", "parameters only: the hint")
    refused(score(*cnn, fm("cnn_b.module.pth"), out),
            "the names start with 'module.': set \"strip_prefix\": \"module.\"", "DataParallel prefix")
    fixed = json.load(open(fx("cnn_b.spec.json")))
    fixed["strip_prefix"] = "module."
    json.dump(fixed, open(os.path.join(tmp, "stripped.json"), "w"))
    r = score(fx("cnn_b.input.npy"), os.path.join(tmp, "stripped.json"), fm("cnn_b.module.pth"), out)
    check(r.returncode == 0, f"strip_prefix as the hint says: exit {r.returncode}: {r.stderr}")
    refused(score(*cnn, fm("cnn_b.checkpoint.pth"), out, "--weights-key", "weights"),
            "--weights-key 'weights': the pickle's root has no key 'weights' (its keys: 'epoch', 'model', "
            "'optimizer')", "a key the checkpoint lacks")
    refused(score(*cnn, fm("cnn_b.checkpoint.pth"), out, "--weights-key", "model.encoder"),
            "nested keys are separated by '/', as 'model/encoder'", "a dotted --weights-key")
    refused(score(*cnn, fx("cnn_b.npz"), out, "--weights-key", "model"),
            "--weights-key selects arrays inside a pickle or a PyTorch checkpoint; this is an .npz archive",
            "--weights-key on an .npz")
    refused(score(fx("cnn_b.keras.input.npy"), fx("cnn_b.spec.json"), fm("cnn_b.keras.h5"), out),
            "'layout' is \"torch\", but the weights are Keras's own file, in Keras's layout", "torch spec, .h5 weights")
    # Files in the wrong place, named by what they are.
    refused(score(*cnn[:1], fm("cnn_b.pth"), fm("cnn_b.pth"), out),
            "--model " + fm("cnn_b.pth") + ": is a zip archive (an .npz, or a PyTorch checkpoint saved by torch.save); "
            "--model takes the npyflow spec (JSON), --weights the arrays", "a checkpoint as --model")
    refused(score(*cnn[:1], fx("keras_config/cnn_b.json"), fm("cnn_b.pth"), out),
            "is a Keras model config, not an npyflow spec; make one with npyflow spec --from-keras", "Keras config as --model")
    refused(score(*cnn, fx("keras_config/cnn_b.json"), out),
            "is a JSON file, not weights; a Keras model config (model.to_json()) holds the architecture", "JSON as --weights")
    refused(score(fm("cnn_b.keras.h5"), fx("cnn_b.spec.json"), fm("cnn_b.pth"), out),
            "not an .npy file (bad magic; expected \\x93NUMPY): it is an HDF5 file", "an .h5 as the input")
    refused(score(fm("mlp.dict.npy"), fx("mlp.spec.json"), fx("mlp.npz"), out),
            "reads only as weights", "a pickled .npy as the input")
    # One sample saved 1-D: 20 rows of one value, where the network takes 20 values a row.
    one = os.path.join(tmp, "one_sample.npy")
    np.save(one, np.load(fx("mlp.input.npy"))[0].reshape(-1))
    refused(score(one, fx("mlp.spec.json"), fx("mlp.npz"), out),
            "rows are a file's first axis, so this 1-D file is 20 samples of one value; one sample of 20 values is "
            "saved as shape (1, 20)", "1-D input of one sample")
    # The hint offers a reshape only where one would fit, and the one it offers works.
    wrong = os.path.join(tmp, "wide.npy")
    np.save(wrong, np.load(fx("mlp.input.npy")).reshape(-1, 4, 5))
    r = score(wrong, fx("mlp.spec.json"), fx("mlp.npz"), out)
    refused(r, 'add {"op": "reshape", "shape": [20]} to "preprocess"', "(4, 5) samples for a (20) input")
    # Channels last for a channels-first network: a transpose, not a reshape, and it works.
    hwc = os.path.join(tmp, "hwc.npy")
    np.save(hwc, np.load(fx("cnn_b.input.npy")).transpose(0, 2, 3, 1))
    refused(score(hwc, fx("cnn_b.spec.json"), fm("cnn_b.pth"), out),
            'add {"op": "transpose", "axes": [2, 0, 1]} (if the file\'s axes are in another order; a reshape would keep '
            'the values in their order and mix them up)', "channels-last input")
    spec = json.load(open(fx("cnn_b.spec.json")))
    spec["preprocess"] = spec.get("preprocess", []) + [{"op": "transpose", "axes": [2, 0, 1]}]
    json.dump(spec, open(os.path.join(tmp, "transposed.json"), "w"))
    r = score(hwc, os.path.join(tmp, "transposed.json"), fm("cnn_b.pth"), out)
    check(r.returncode == 0, f"the suggested transpose: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        matches_pytorch(out, fx("cnn_b.expected.npy"), "the suggested transpose")
    spec = json.load(open(fx("mlp.spec.json")))
    spec["preprocess"] = spec.get("preprocess", []) + [{"op": "reshape", "shape": [20]}]
    json.dump(spec, open(os.path.join(tmp, "reshaped.json"), "w"))
    r = score(wrong, os.path.join(tmp, "reshaped.json"), fx("mlp.npz"), out)
    check(r.returncode == 0, f"the suggested reshape: exit {r.returncode}: {r.stderr}")
    check(not os.path.exists(out + ".partial"), "a refused job left a partial file")


@case
def test_convert_and_inspect(tmp):
    out = os.path.join(tmp, "w.npz")
    for weights, reference in (("cnn_b.pth", "cnn_b.npz"), ("cnn_b.checkpoint.pth", "cnn_b.npz"),
                               ("cnn_b.keras.h5", None), ("mlp.dict.npy", "mlp.npz")):
        r = npyflow("convert", fm(weights), "-o", out)
        check(r.returncode == 0, f"convert {weights}: exit {r.returncode}: {r.stderr}")
        if r.returncode != 0:
            continue
        got = np.load(out)
        if reference:
            want = np.load(fx(reference))
            check(sorted(got.files) == sorted(want.files), f"convert {weights}: names {got.files}")
            for k in want.files:
                check(k in got.files and got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]),
                      f"convert {weights}: {k} differs")
        else:
            want = np.load(fx("cnn_b.keras.npz"))
            check(len(got.files) == len(want.files) and all(k.endswith(":0") for k in got.files),
                  f"convert {weights}: names {got.files}")
    r = npyflow("convert", fm("cnn_b.pth"), "-o", fm("cnn_b.pth"))
    refused(r, "", "convert onto its input")
    check(os.path.getsize(fm("cnn_b.pth")) > 0 and np.load(out) is not None, "convert damaged its input")
    r = npyflow("inspect", fm("cnn_b.keras_list.npy"), fm("cnn_b.pth"), fm("cnn_b.keras.h5"))
    check(r.returncode == 0, f"inspect: exit {r.returncode}: {r.stderr}")
    r2 = npyflow("inspect", fm("cnn_b.ema.pth"), "--weights-key", "ema")
    check(r2.returncode == 0 and "0.weight" in r2.stdout, f"inspect --weights-key: exit {r2.returncode}: {r2.stderr}")
    for text in ("cnn_b.keras_list.npy (a pickled .npy)", "arr_9", "cnn_b.pth (a PyTorch checkpoint)",
                 "2.num_batches_tracked", "int64", "(a Keras HDF5 file)", "0/kernel:0"):
        check(text in r.stdout, f"inspect lacks {text!r}: {r.stdout}")


@case
def test_specs_for_the_user(tmp):
    out, spec = os.path.join(tmp, "out.npy"), os.path.join(tmp, "spec.json")
    # The architecture from the full-model .h5, the weights from its save_weights twin.
    r = npyflow("spec", "--from-keras", fm("cnn_b.keras_model.h5"), "-o", spec)
    check(r.returncode == 0, f"spec --from-keras: exit {r.returncode}: {r.stderr}")
    r = score(fx("cnn_b.keras.input.npy"), spec, fm("cnn_b.keras.h5"), out)
    check(r.returncode == 0, f"score with the converted spec: exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        matches_pytorch(out, fx("cnn_b.expected.npy"), "spec --from-keras")
    refused(npyflow("spec", "--from-keras", fm("cnn_b.keras.h5")), "holds weights only (model.save_weights)",
            "--from-keras on save_weights' file")
    # A draft names its guesses and binds every array.
    r = npyflow("spec", "--draft", fm("cnn_b.pth"), "--input-shape", "4,9,9", "-o", spec)
    check(r.returncode == 0, f"spec --draft: exit {r.returncode}: {r.stderr}")
    check("check: layers[0] '0': conv2d kernel 3x2: stride and padding are not in the weights" in r.stderr,
          f"the draft's notes: {r.stderr}")
    r = npyflow("score", "--dry-run", "--model", spec, "--weights", fm("cnn_b.pth"), "--strict", fx("cnn_b.input.npy"))
    check(r.returncode == 0, f"dry run of the draft: exit {r.returncode}: {r.stderr}")
    refused(npyflow("spec", "--draft", fm("cnn_b.pth"), "--input-shape", "4,x"),
            "--input-shape: '4,x' is not a list of positive sizes", "a bad --input-shape")
    refused(npyflow("spec"), "give one of --from-keras FILE or --draft WEIGHTS", "spec without a source")


@case
def test_dry_run_and_reference(tmp):
    r = npyflow("score", "--dry-run", "--model", fx("cnn_b.spec.json"), "--weights", fm("cnn_b.pth"))
    check(r.returncode == 0, f"dry run: exit {r.returncode}: {r.stderr}")
    for text in ('layers[0] (conv2d "0")', "(4, 9, 9)", "weight       <- '0.weight' (6, 4, 3, 2) float32",
                 "layers[9] (linear \"9\")", "total: 10 layers, 244 parameters", "nothing was run"):
        check(text in r.stdout + r.stderr, f"dry run lacks {text!r}: {r.stdout}")
    out = os.path.join(tmp, "out.npy")
    r = score(fx("cnn_b.input.npy"), fx("cnn_b.spec.json"), fm("cnn_b.pth"), out, "--reference", fx("cnn_b.expected.npy"))
    check(r.returncode == 0 and "within --atol 0.0001" in r.stdout, f"--reference: exit {r.returncode}: {r.stdout}")
    wrong = np.load(fx("cnn_b.expected.npy"))
    wrong[[3, 7]] += 0.01
    np.save(os.path.join(tmp, "wrong.npy"), wrong)
    r = score(fx("cnn_b.input.npy"), fx("cnn_b.spec.json"), fm("cnn_b.pth"), out, "--reference",
              os.path.join(tmp, "wrong.npy"))
    check(r.returncode == 1, f"--reference over atol: exit {r.returncode}")
    check("2 of 37 rows differ by more than --atol 0.0001" in r.stdout and "the first: rows 3, 7" in r.stdout,
          f"--reference over atol: {r.stdout}")
    fresh = os.path.join(tmp, "fresh.npy")
    refused(score(fx("cnn_b.input.npy"), fx("cnn_b.spec.json"), fm("cnn_b.pth"), fresh, "--reference", fx("mlp.expected.npy")),
            "--reference " + fx("mlp.expected.npy") + ": has shape (37, 5), the output (37, 4)", "a reference of another shape")
    check(not os.path.exists(fresh) and not os.path.exists(fresh + ".partial"), "a bad --reference let the job run")


def setup(npyflow):
    global NPYFLOW
    NPYFLOW = npyflow


if __name__ == "__main__":
    sys.exit(cli_cases.main(setup))
