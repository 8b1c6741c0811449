#!/usr/bin/python3
"""custom_stage's row sums are numpy's: (x.astype(float32) * 0.5) summed per row in float64.

usage: check_custom_stage.py CUSTOM_STAGE IN.npy OUTDIR
"""
import os
import subprocess
import sys

import numpy as np

program, source, out = sys.argv[1:]
result = os.path.join(out, "row_sums.npy")
subprocess.run([program, source, result], check=True)
x = np.load(source)
expected = (x.astype(np.float32) * np.float32(0.5)).reshape(len(x), -1).astype(np.float64).sum(axis=1)
got = np.load(result)
print("max abs diff:", np.abs(got - expected).max())
sys.exit(0 if got.shape == expected.shape and np.allclose(got, expected, rtol=1e-12, atol=0) else 1)
