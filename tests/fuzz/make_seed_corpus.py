#!/usr/bin/python3
"""Builds the committed seed corpus of the fuzz targets from the numpy fixtures and the bad
inputs: every file under 8 KiB, .npy files (and npz members, unzipped) for fuzz_npy,
.npz files for fuzz_npz; the committed pickle fixtures (object .npy files for fuzz_pickle,
.pth and .pkl files for fuzz_pth); every model spec in the repository for fuzz_model_spec; the cnn_b
weight fixtures, and variants of them the binder must refuse, for fuzz_weights. Rerun after
adding fixture cases:

    tests/fuzz/make_seed_corpus.py
"""
import hashlib
import os
import shutil
import sys
import tempfile
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
NN_FIXTURES = os.path.join(ROOT, "tests", "nn", "fixtures")
PICKLE_FIXTURES = os.path.join(ROOT, "tests", "io", "fixtures", "pickle")
CORPORA = ("npy", "npz", "pickle", "pth", "model_spec", "weights")
sys.path.insert(0, os.path.join(HERE, "..", "io"))
import make_bad_inputs  # noqa: E402
import make_numpy_fixtures  # noqa: E402

MAX_SIZE = 8192


def save(corpus, content):
    if len(content) > MAX_SIZE:
        return
    name = hashlib.sha1(content).hexdigest()[:16]
    with open(os.path.join(HERE, "corpus", corpus, name), "wb") as f:
        f.write(content)


def spec_seeds():
    for folder in (NN_FIXTURES, os.path.join(ROOT, "examples", "fashion_mnist"), os.path.join(ROOT, "examples", "data")):
        for fname in sorted(os.listdir(folder)):
            if fname.endswith(".json") and "accuracy" not in fname:
                save("model_spec", open(os.path.join(folder, fname), "rb").read())
    save("model_spec", b'{"preprocess": [{"op": "cast", "dtype": "float32"}, {"op": "normalize", "mean": [0.5], '
                       b'"std": [0.25], "axis": 0}, {"op": "transpose", "axes": [1, 0]}, {"op": "clip", "min": 0, '
                       b'"max": 1}, {"op": "reshape", "shape": [1, 28, 28]}]}')


def weight_seeds(tmp):
    for fname in ("cnn_b.npz", "cnn_b.keras.npz", "cnn_b.keras_positional.npz"):
        save("weights", open(os.path.join(NN_FIXTURES, fname), "rb").read())
    for fname in ("lstm_classifier.npz", "gru_keras.keras.npz", "gru_keras.keras_positional.npz", "transformer.npz",
                  "resblock.npz", "gated_seq.npz"):  # the graph fixtures fuzz_weights also binds
        save("weights", open(os.path.join(NN_FIXTURES, "graph", fname), "rb").read())
    with np.load(os.path.join(NN_FIXTURES, "cnn_b.npz")) as z:
        good = {k: z[k] for k in z.files}
    first = sorted(good)[0]
    variants = {
        "nan": {**good, first: np.full_like(good[first], np.nan)},
        "float64": {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in good.items()},
        "float16": {k: v.astype(np.float16) if v.dtype.kind == "f" else v for k, v in good.items()},
        "transposed": {**good, "9.weight": good["9.weight"].T.copy()},
        "missing": {k: v for k, v in good.items() if k != "2.running_var"},
        "extra": {**good, "unused.weight": np.zeros(3, np.float32)},
        "negative_variance": {**good, "2.running_var": -np.abs(good["2.running_var"])},
    }
    for name, arrays in variants.items():
        path = os.path.join(tmp, name + ".npz")
        np.savez(path, **arrays)
        save("weights", open(path, "rb").read())


def pickle_seeds():
    for folder in (PICKLE_FIXTURES, os.path.join(PICKLE_FIXTURES, "hostile")):
        for fname in sorted(os.listdir(folder)):
            if fname.endswith(".npy"):
                save("pickle", open(os.path.join(folder, fname), "rb").read())
            elif fname.endswith(".pth") or fname.endswith(".pkl"):
                save("pth", open(os.path.join(folder, fname), "rb").read())


def main():
    for corpus in CORPORA:
        shutil.rmtree(os.path.join(HERE, "corpus", corpus), ignore_errors=True)
        os.makedirs(os.path.join(HERE, "corpus", corpus))
    with tempfile.TemporaryDirectory() as tmp:
        make_numpy_fixtures.main(os.path.join(tmp, "numpy"))
        make_bad_inputs.main(os.path.join(tmp, "bad"))
        for sub in ("numpy", "bad"):
            folder = os.path.join(tmp, sub)
            for fname in sorted(os.listdir(folder)):
                content = open(os.path.join(folder, fname), "rb").read()
                if fname.endswith(".npy"):
                    save("npy", content)
                elif fname.endswith(".npz"):
                    save("npz", content)
                    try:
                        with zipfile.ZipFile(os.path.join(folder, fname)) as z:
                            for info in z.infolist():
                                save("npy", z.read(info))
                    except Exception:
                        pass  # bad archives on purpose
        weight_seeds(tmp)
    pickle_seeds()
    spec_seeds()
    for corpus in CORPORA:
        print(corpus, len(os.listdir(os.path.join(HERE, "corpus", corpus))), "seed inputs")


if __name__ == "__main__":
    main()
