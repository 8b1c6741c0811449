#!/usr/bin/python3
"""Trains the two bundled Fashion-MNIST models with PyTorch (python3-torch) and saves what
npyflow needs: weights as .npz (the state_dict), and the test-set accuracy PyTorch measured,
which the test suite checks `npyflow score` reproduces.

    /usr/bin/python3 examples/fashion_mnist/train.py     # about two minutes on 2 cores

Reads the Debian package dataset-fashion-mnist. The specs (mlp.json, cnn.json) are written by
hand beside this script; the preprocessing here is exactly theirs.
"""
import gzip
import json
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def preprocess(images):
    """The spec's "preprocess": cast, scale by 1/255, normalize, reshape to (1, 28, 28)."""
    x = ((images.astype(np.float32) * np.float32(0.00392156862745098)) - np.float32(MEAN)) / np.float32(STD)
    return torch.from_numpy(x.reshape(-1, 1, 28, 28))


def models():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    cnn = nn.Sequential(nn.Conv2d(1, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(32 * 5 * 5, 10))
    return {"mlp": (mlp, 6), "cnn": (cnn, 4)}


def main():
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count())
    x_train, y_train = preprocess(idx("train-images-idx3-ubyte.gz")), torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    x_test, y_test = preprocess(idx("t10k-images-idx3-ubyte.gz")), torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    recorded = {}
    for name, (model, epochs) in models().items():
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(len(x_train))
            for i in range(0, len(order), 128):
                batch = order[i:i + 128]
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
                loss.backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            predicted = torch.cat([model(x_test[i:i + 1000]).argmax(1) for i in range(0, len(x_test), 1000)])
        accuracy = (predicted == y_test).float().mean().item()
        correct = int((predicted == y_test).sum())
        print(f"{name}: test accuracy {accuracy:.4f} ({correct} of {len(y_test)})")
        np.savez(os.path.join(HERE, f"{name}.npz"), **{k: v.numpy() for k, v in model.state_dict().items()})
        recorded[name] = {"accuracy": round(accuracy, 4), "correct": correct, "rows": len(y_test),
                          "epochs": epochs, "torch": torch.__version__}
    with open(os.path.join(HERE, "recorded_accuracy.json"), "w") as f:
        json.dump(recorded, f, indent=1)


if __name__ == "__main__":
    main()
