#!/usr/bin/python3
"""Builds the committed seed corpus of the fuzz targets from the numpy fixtures and the bad
inputs: every file under 8 KiB, .npy files (and npz members, unzipped) for fuzz_npy,
.npz files for fuzz_npz. Rerun after adding fixture cases:

    tests/fuzz/make_seed_corpus.py
"""
import hashlib
import os
import shutil
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
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


def main():
    for corpus in ("npy", "npz"):
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
    for corpus in ("npy", "npz"):
        print(corpus, len(os.listdir(os.path.join(HERE, "corpus", corpus))), "seed inputs")


if __name__ == "__main__":
    main()
