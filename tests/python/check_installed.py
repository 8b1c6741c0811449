"""The package as cmake --install lays it out: imported from the prefix's dist-packages (not
the build tree), it loads a model and predicts. Usage: check_installed.py SITE SPEC WEIGHTS"""

import pathlib
import sys

site, spec, weights = sys.argv[1:4]
sys.path.insert(0, site)
import numpy as np  # noqa: E402

import npyflow  # noqa: E402

where = pathlib.Path(npyflow.__file__).resolve()
assert where.is_relative_to(pathlib.Path(site).resolve()), f"imported from {where}, not {site}"
out = npyflow.Model(spec, weights).predict(np.zeros((3, 28, 28), np.uint8))
assert out.shape == (3, 10) and out.dtype == np.float32
print(f"installed npyflow {npyflow.__version__} at {where.parent}: predict gave {out.shape}")
