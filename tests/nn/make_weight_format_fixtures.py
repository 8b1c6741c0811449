#!/usr/bin/python3
"""The weights of two fixtures (fixtures/mlp, fixtures/cnn_b: PyTorch-computed outputs in
fixtures/*.expected.npy) saved the ways users save them, for test_weights_cli.py:

- torch.save of a state_dict (a transposed, non-contiguous tensor and two views of one storage
  among them), a training checkpoint with the model under "model" and Adam's state, a
  DataParallel-wrapped state_dict ("module." names), parameters only (no running statistics),
  an old (pre-1.6) checkpoint, and a whole pickled model (torch.save(model));
- Keras 2 HDF5 as model.save_weights writes it, and a full-model .h5 with its model_config
  (fixtures/keras_config/cnn_b.json), in Keras's own structure (h5py, through the writer in
  tests/io/make_keras_h5_fixtures.py);
- np.save of model.get_weights() (a list: an object array) and of a dict of arrays.

Committed with its outputs (fixtures/formats/): PyTorch and h5py are not needed to test.
usage: make_weight_format_fixtures.py [OUTDIR]
"""
import collections
import json
import os
import pickle
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")
sys.path.insert(0, os.path.join(HERE, "..", "io"))
from make_keras_h5_fixtures import save_weights_to_hdf5_group  # noqa: E402


def npz(name):
    z = np.load(os.path.join(FIX, name))
    return [(k, z[k]) for k in z.files]


def state_dict(arrays, prefix=""):
    return collections.OrderedDict((prefix + k, torch.from_numpy(v.copy())) for k, v in arrays)  # copy keeps 0-d 0-d


def object_array(items):
    a = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        a[i] = v
    return a


def keras_layers(arrays):
    """[(layer, [(weight name, value)])] in file order, as Keras's layer_names and weight_names."""
    layers = collections.OrderedDict()
    for k, v in arrays:
        layer, role = k.split("/")
        layers.setdefault(layer, []).append((f"{layer}/{role.removesuffix(':0')}:0", v))
    return list(layers.items())


def main(out):
    os.makedirs(out, exist_ok=True)
    cnn = npz("cnn_b.npz")

    sd = state_dict(cnn)
    # Saved as the views a model holds after surgery: the linear's weight as the transpose of
    # a (6, 4) tensor, both batchnorm affine vectors slices of one storage.
    w9 = dict(cnn)["9.weight"]
    sd["9.weight"] = torch.from_numpy(np.ascontiguousarray(w9.T)).t()
    both = torch.from_numpy(np.concatenate([dict(cnn)["2.weight"], dict(cnn)["2.bias"]]))
    sd["2.weight"], sd["2.bias"] = both[:6], both[6:]
    assert not sd["9.weight"].is_contiguous()
    torch.save(sd, os.path.join(out, "cnn_b.pth"))

    adam = {"state": {i: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(v.shape), "exp_avg_sq": torch.zeros(v.shape)}
                      for i, (_, v) in enumerate(cnn) if v.dtype == np.float32},
            "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": list(range(len(cnn)))}]}
    torch.save({"epoch": 3, "model": state_dict(cnn), "optimizer": adam}, os.path.join(out, "cnn_b.checkpoint.pth"))
    torch.save(state_dict(cnn, "module."), os.path.join(out, "cnn_b.module.pth"))
    torch.save(state_dict(cnn), os.path.join(out, "cnn_b.legacy.pth"), _use_new_zipfile_serialization=False)
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    torch.save(state_dict([(k, v) for k, v in cnn if not k.endswith(buffers)]), os.path.join(out, "cnn_b.parameters.pth"))

    keras = keras_layers(npz("cnn_b.keras.npz"))
    with h5py.File(os.path.join(out, "cnn_b.keras.h5"), "w") as f:
        save_weights_to_hdf5_group(f, keras, "2.12.0", False)
    with h5py.File(os.path.join(out, "cnn_b.keras_model.h5"), "w") as f:
        f.attrs["keras_version"] = b"2.12.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(json.load(open(os.path.join(FIX, "keras_config", "cnn_b.json")))).encode()
        save_weights_to_hdf5_group(f.create_group("model_weights"), keras, "2.12.0", False)
    # model.get_weights(): every array in layer order, saved as a list.
    np.save(os.path.join(out, "cnn_b.keras_list.npy"), object_array([v for _, w in keras for _, v in w]),
            allow_pickle=True)

    np.save(os.path.join(out, "mlp.dict.npy"), dict(npz("mlp.npz")), allow_pickle=True)
    # The weights at the root beside a dict of EMA weights (zeros here): which is meant, the file
    # cannot say.
    torch.save({**state_dict(cnn), "ema": state_dict([(k, np.zeros_like(v)) for k, v in cnn])},
               os.path.join(out, "cnn_b.ema.pth"))
    # pickle protocol 0 (text), which has no header: known by its name.
    with open(os.path.join(out, "mlp.protocol0.pkl"), "wb") as f:
        pickle.dump(dict(npz("mlp.npz")), f, protocol=0)
    # torch.save(model): the module pickled whole, which only PyTorch's classes can rebuild.
    torch.manual_seed(0)
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 2)), os.path.join(out, "whole_model.pth"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(FIX, "formats"))
