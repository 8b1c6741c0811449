"""Shared fixtures for the Python module's tests (run by CTest: python.*).

PYTHONPATH holds build/python; NPYFLOW_BIN is the command-line program, whose outputs the
module must equal to the bit; NPYFLOW_SOURCE_DIR the repository."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

SOURCE = pathlib.Path(os.environ.get("NPYFLOW_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
CLI = os.environ.get("NPYFLOW_BIN", str(SOURCE / "build" / "npyflow"))
FASHION = SOURCE / "examples" / "fashion_mnist"
FORMATS = SOURCE / "tests" / "nn" / "fixtures" / "formats"
PICKLES = SOURCE / "tests" / "io" / "fixtures" / "pickle"


def run_cli(*args, check=True):
    """Runs the CLI; returns the completed process (its output as text)."""
    done = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"npyflow {' '.join(map(str, args))} exited {done.returncode}:\n{done.stderr}")
    return done


def images(rows, seed=0):
    """Fashion-MNIST-shaped uint8 images, as idx_to_npy writes them."""
    return np.random.default_rng(seed).integers(0, 256, size=(rows, 28, 28), dtype=np.uint8)


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, images(1000))
    return path


def numbered_rows(rows, width=3, dtype=np.int32):
    """Row i holds i and then i*10+k: a row's origin is read off its first value."""
    a = np.arange(rows, dtype=np.int64)[:, None] * 10 + np.arange(width)[None, :]
    a[:, 0] = np.arange(rows)
    return a.astype(dtype)


def bits(a):
    """An array's bytes, for bit-for-bit comparisons (NaN equal to the same NaN)."""
    return np.ascontiguousarray(a).view(np.uint8)
