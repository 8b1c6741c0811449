#!/usr/bin/python3
"""predict's classes are those `npyflow score --output-kind argmax` gives for the same images.

usage: check_predict.py PREDICT NPYFLOW SPEC WEIGHTS OUTDIR
"""
import os
import re
import subprocess
import sys

import numpy as np

predict, npyflow, spec, weights, out = sys.argv[1:]
images, scores = os.path.join(out, "predict_images.npy"), os.path.join(out, "predict_classes.npy")
said = subprocess.run([predict, spec, weights, images], capture_output=True, text=True, check=True).stdout
classes = [int(c) for c in re.search(r"classes: ([-0-9 ]+)", said).group(1).split()]
subprocess.run([npyflow, "score", images, "-o", scores, "--model", spec, "--weights", weights,
                "--output-kind", "argmax", "-q"], check=True)
expected = np.load(scores).tolist()
print("predict:", classes, "score:", expected)
sys.exit(0 if classes == expected and len(classes) == 4 else 1)
