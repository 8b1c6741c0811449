#!/usr/bin/python3
"""Writes .npy/.npz files with numpy itself, plus manifest.json describing what numpy says
they hold. The C++ io tests and the CLI test check npyflow against this manifest.

For every array the manifest gives name, dtype, shape, fortran_order, byte_order, nbytes,
statistics, and `raw`: a file with the array's data in C order, little endian, which is
what npyflow's copy_rows must produce.

usage: make_numpy_fixtures.py OUTDIR
"""
import io
import json
import os
import sys
import zipfile

import numpy as np

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"]


def sample(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    a = (rng.standard_normal(size=shape) * 100).astype(dt)
    if a.size > 2:
        a.flat[1] = np.nan
        a.flat[2] = -0.0
    return a


def describe(name, a, outdir, raw_name):
    native = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"))
    with open(os.path.join(outdir, raw_name), "wb") as f:
        f.write(native.tobytes())
    order = {"<": "little", ">": "big", "|": "none", "=": "little"}[a.dtype.str[0]]
    finite = a[~np.isnan(a)] if a.dtype.kind == "f" else a
    stats = {
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "mean": float(finite.astype(np.float64).mean()) if finite.size else None,
        "nan_count": int(np.isnan(a).sum()) if a.dtype.kind == "f" else 0,
    }
    return {
        "name": name,
        "dtype": a.dtype.name,
        "shape": list(a.shape),
        "fortran_order": bool(a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous),
        "byte_order": order,
        "nbytes": int(a.nbytes),
        "stats": stats,
        "raw": raw_name,
    }


def old_style_16_aligned(path, a):
    """A header padded to 16 bytes, as numpy before 1.14 wrote them, with no trailing newline."""
    header = "{'shape': %r, 'fortran_order': False, 'descr': '%s'}" % (a.shape, a.dtype.str)
    total = 10 + len(header)
    header += " " * ((16 - total % 16) % 16)
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1"))
        f.write(a.tobytes())


class Unseekable(io.RawIOBase):
    """A write-only stream without tell(): zipfile then writes data descriptors."""

    def __init__(self, f):
        self.f = f

    def writable(self):
        return True

    def write(self, b):
        return self.f.write(b)

    def tell(self):
        raise OSError("not seekable")

    def seekable(self):
        return False


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    files = []
    seed = 0

    def npy(fname, a, writer=None):
        nonlocal seed
        path = os.path.join(outdir, fname)
        (writer or np.save)(path, a)
        files.append({"path": fname, "arrays": [describe("", a, outdir, fname + ".raw")]})

    for dt in DTYPES:
        for order in ("<", ">"):
            for fortran in (False, True):
                seed += 1
                a = sample(dt, (5, 3, 4), seed)
                a = a.astype(a.dtype.newbyteorder(order))
                if fortran:
                    a = np.asfortranarray(a)
                npy(f"{dt}_{'le' if order == '<' else 'be'}_{'F' if fortran else 'C'}.npy", a)

    npy("float32_0d.npy", np.array(3.5, dtype=np.float32))
    npy("int64_0d.npy", np.array(-7, dtype=np.int64))
    npy("float32_empty.npy", np.zeros((0,), dtype=np.float32))
    npy("uint8_3x0.npy", np.zeros((3, 0), dtype=np.uint8))
    npy("float64_1d.npy", sample("float64", (17,), 99))

    def versioned(version):
        def write(path, a):
            with open(path, "wb") as f:
                np.lib.format.write_array(f, a, version=version)
        return write

    npy("float32_v2.npy", sample("float32", (4, 6), 100), versioned((2, 0)))
    npy("int16_v3.npy", sample("int16", (4, 6), 101), versioned((3, 0)))
    npy("float64_16_aligned.npy", sample("float64", (2, 3), 102), old_style_16_aligned)

    def npz(fname, arrays, save, positional=False):
        path = os.path.join(outdir, fname)
        if positional:
            save(path, *arrays.values())
        else:
            save(path, **arrays)
        entries = [describe(k, a, outdir, f"{fname}.{i}.raw") for i, (k, a) in enumerate(arrays.items())]
        files.append({"path": fname, "arrays": entries})

    weights = {
        "dense/kernel:0": sample("float32", (8, 4), 200),
        "dense/bias:0": sample("float32", (4,), 201),
        "layer1.0.bn1.running_mean": sample("float32", (16,), 202),
        "layer1.0.bn1.num_batches_tracked": np.array(123, dtype=np.int64),
        "big_endian": sample("int32", (3, 5), 203).astype(">i4"),
        "fortran": np.asfortranarray(sample("float64", (4, 5), 204)),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "half": sample("float16", (10,), 205),
    }
    npz("weights_stored.npz", weights, np.savez)
    npz("weights_deflated.npz", weights, np.savez_compressed)
    npz("positional.npz", {"arr_0": sample("float32", (3, 2), 300), "arr_1": sample("float32", (2,), 301)},
        np.savez, positional=True)
    npz("large_deflated.npz", {"x": np.arange(300000, dtype=np.float32).reshape(3000, 100)}, np.savez_compressed)

    # Data descriptors: numpy writing to a stream that cannot seek.
    stream_arrays = {"a": sample("float32", (6, 7), 400), "b": sample("uint8", (9,), 401)}
    with open(os.path.join(outdir, "streamed.npz"), "wb") as f:
        np.savez_compressed(Unseekable(f), **stream_arrays)
    with zipfile.ZipFile(os.path.join(outdir, "streamed.npz")) as z:
        assert all(info.flag_bits & 0x08 for info in z.infolist()), "expected data descriptors"
    files.append({"path": "streamed.npz",
                  "arrays": [describe(k, a, outdir, f"streamed.npz.{i}.raw") for i, (k, a) in enumerate(stream_arrays.items())]})

    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump({"files": files}, f, indent=1)
    print(f"wrote {len(files)} files to {outdir}")


if __name__ == "__main__":
    main(sys.argv[1])
