#!/usr/bin/python3
"""What PyTorch gives for inputs holding NaN and +-Inf, through the bundled Fashion-MNIST MLP
and CNN (examples/fashion_mnist), for the test that npyflow's outputs agree. Committed in
tests/nn/fixtures/; rerun to regenerate:

    /usr/bin/python3 tests/nn/make_nonfinite_fixtures.py

nonfinite.input.npy: float32 (12, 28, 28) raw pixel values, as npyflow reads them (the specs
cast, scale and normalize): rows 0, 6, 11 are ordinary images; the others hold NaN, +Inf or
-Inf everywhere, in one pixel (a corner, the centre), or a mix. nonfinite.<model>.torch.npy:
PyTorch's logits for them (eval mode).
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples", "fashion_mnist")
sys.path.insert(0, EXAMPLES)
from train import models, preprocess  # noqa: E402  (the architectures the weights were trained with)


def inputs():
    x = np.random.default_rng(7).integers(0, 256, (12, 28, 28)).astype(np.float32)
    x[1] = np.nan
    x[2] = np.inf
    x[3] = -np.inf
    x[4, 0, 0] = np.nan
    x[5, 0, 0] = -np.inf
    x[7, 14, 14] = np.inf
    x[8, 14, 14] = -np.inf
    x[9, 3, 20] = np.nan
    x[9, 20, 3] = np.inf
    x[10, 27, 27] = np.inf
    return x


def main():
    x = inputs()
    np.save(os.path.join(HERE, "fixtures", "nonfinite.input.npy"), x)
    for name, (model, _) in models().items():
        weights = np.load(os.path.join(EXAMPLES, f"{name}.npz"))
        model.load_state_dict({k: torch.from_numpy(weights[k]) for k in weights.files})
        model.eval()
        with torch.no_grad():
            y = model(preprocess(x)).numpy()
        np.save(os.path.join(HERE, "fixtures", f"nonfinite.{name}.torch.npy"), y)
        print(name, "rows with NaN outputs:", [int(r) for r in np.flatnonzero(np.isnan(y).any(axis=1))],
              "non-finite:", [int(r) for r in np.flatnonzero(~np.isfinite(y).all(axis=1))])


if __name__ == "__main__":
    main()
