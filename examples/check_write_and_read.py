#!/usr/bin/python3
"""numpy must read what examples/write_and_read wrote, value for value.
usage: check_write_and_read.py OUTDIR"""
import os
import sys
import zipfile

import numpy as np

out = sys.argv[1]
data = np.load(os.path.join(out, "example.npy"))
assert data.dtype == np.float32 and data.shape == (37, 29), (data.dtype, data.shape)
assert np.array_equal(data, np.arange(37 * 29, dtype=np.float32).reshape(37, 29))

with np.load(os.path.join(out, "example_weights.npz")) as w:
    assert sorted(w.files) == ["0.bias", "0.weight"], w.files
    assert np.array_equal(w["0.weight"], (np.arange(4 * 29) / 100).astype(np.float32).reshape(4, 29))
    assert np.array_equal(w["0.bias"], np.array([0.5, -0.5, 1.0, 0.0], dtype=np.float32))
with zipfile.ZipFile(os.path.join(out, "example_weights.npz")) as z:
    assert z.testzip() is None, "CRC-32 check failed"
    assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
    assert all(len(i.extra) >= 20 for i in z.infolist()), "expected zip64 extra fields"
assert not [f for f in os.listdir(out) if f.endswith(".partial")], "a partial file was left behind"
print("numpy reads both files exactly")
