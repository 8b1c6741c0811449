#!/usr/bin/python3
"""The Fashion-MNIST demo must reproduce PyTorch: converts the test set with idx_to_npy, scores
it with both bundled models through `npyflow score --labels`, and compares the accuracy with
recorded_accuracy.json (written by train.py).

usage: check_demo.py NPYFLOW IDX_TO_NPY WORKDIR
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/share/datasets/fashion-mnist"


def main():
    npyflow, idx_to_npy, work = sys.argv[1:4]
    if not os.path.exists(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")):
        sys.exit(f"{DATA} is missing: install the Debian package dataset-fashion-mnist (scripts/install-deps.sh)")
    os.makedirs(work, exist_ok=True)
    images, labels = os.path.join(work, "test_images.npy"), os.path.join(work, "test_labels.npy")
    subprocess.run([idx_to_npy, os.path.join(DATA, "t10k-images-idx3-ubyte.gz"), images], check=True)
    subprocess.run([idx_to_npy, os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"), labels], check=True)
    recorded = json.load(open(os.path.join(HERE, "recorded_accuracy.json")))
    failures = 0
    for model in ("mlp", "cnn"):
        r = subprocess.run([npyflow, "score", images, "-o", os.path.join(work, f"{model}_scores.npy"),
                            "--model", os.path.join(HERE, f"{model}.json"),
                            "--weights", os.path.join(HERE, f"{model}.npz"), "--labels", labels],
                           capture_output=True, text=True)
        m = re.search(r"accuracy: ([0-9.]+) \(([0-9]+) of ([0-9]+) correct\)", r.stdout)
        want = recorded[model]
        ok = r.returncode == 0 and m is not None and int(m.group(2)) == want["correct"]
        print(f"{model}: npyflow {m.group(2) if m else '?'} correct, PyTorch recorded {want['correct']} "
              f"({want['accuracy']:.4f}): {'ok' if ok else 'FAIL'}")
        if not ok:
            print(r.stdout, r.stderr)
            failures += 1
    print(f"{failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
