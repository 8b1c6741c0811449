"""A PyTorch training loop fed by npyflow.Dataset, then the trained weights scored by
npyflow.Model: the two ends a Python user needs, with nothing hand-mapped in between.

Trains a small MLP on Fashion-MNIST's 60,000 training images for two epochs (batches
preprocessed and shuffled by npyflow's flow graph in the background, handed to torch without a
copy), saves its state_dict as an .npz, and scores the 10,000 test images with npyflow.Model
and the spec the loader used: the outputs must equal PyTorch's within 1e-4.

Usage: train_loop.py IDX_TO_NPY SPEC WORK_DIR   (CTest: examples.python.train_loop; exits 77,
skipped, where PyTorch is not installed)"""

import os
import subprocess
import sys
import time

import numpy as np

try:
    import torch
except ImportError:
    print("PyTorch is not installed (python3-torch): skipped")
    sys.exit(77)

import npyflow

DATA = "/usr/share/datasets/fashion-mnist"
idx_to_npy, spec, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
files = {}
for part, prefix in (("train", "train"), ("test", "t10k")):
    for kind in ("images", "labels"):
        files[part, kind] = os.path.join(work, f"{part}_{kind}.npy")
        subprocess.run([idx_to_npy, f"{DATA}/{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz",
                        files[part, kind]], check=True)

torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
loader = npyflow.Dataset(files["train", "images"], spec=spec, labels=files["train", "labels"], batch=128,
                         shuffle=True, seed=0)
for epoch in range(2):
    start, total = time.perf_counter(), 0.0
    for x, y in loader:  # each pass a new shuffled order of batches
        x, y = torch.from_numpy(x), torch.from_numpy(y).long()  # the images without a copy
        loss = torch.nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
    print(f"epoch {epoch}: loss {total / loader.rows:.4f}, {loader.rows / (time.perf_counter() - start):.0f} rows/s")

# The trained weights as npyflow binds them: the state_dict's names ("1.weight", ...) are the
# spec's layer names.
weights = os.path.join(work, "trained.npz")
np.savez(weights, **{k: v.detach().numpy() for k, v in net.state_dict().items()})
model = npyflow.Model(spec, weights)
ours = model.predict(npyflow.load(files["test", "images"]))
with torch.no_grad():
    x = np.concatenate(list(npyflow.Dataset(files["test", "images"], spec=spec)))
    theirs = net.eval()(torch.from_numpy(x)).numpy()
diff = float(np.abs(ours - theirs).max())
accuracy = float((ours.argmax(axis=1) == np.load(files["test", "labels"])).mean())
print(f"test accuracy {accuracy:.4f}; npyflow.Model against PyTorch: max abs diff {diff:.2e}")
assert diff < 1e-4, diff
assert accuracy > 0.8, accuracy
