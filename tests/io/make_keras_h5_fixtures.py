#!/usr/bin/python3
"""Writes HDF5 files exactly as Keras 2 lays them out, with h5py, and what they hold as .npz
(written by numpy) plus .json (keras_version, backend, model_config) next to them.

The writing functions below are Keras's own (keras-team/keras at ddcae6320b,
keras/saving/legacy/hdf5_format.py: save_weights_to_hdf5_group,
save_subset_weights_to_hdf5_group, save_attributes_to_hdf5_group, save_model_to_hdf5),
with Keras's layer objects replaced by (name, [(weight name, array)]) pairs. Weight names
are what TF2's Keras 2 gives variables ("lstm/lstm_cell/kernel:0").

Keras passes lists of bytes to h5py: h5py 2 stored them as fixed-length strings, h5py 3
stores them as variable-length strings; the save_weights fixture is written the h5py 2
way, the full-model fixture the h5py 3 way, so both are read.

usage: make_keras_h5_fixtures.py [OUTDIR [SEEDDIR]]   (defaults: fixtures/keras_h5 next to
       this file, and tests/fuzz/corpus/h5)
       make_keras_h5_fixtures.py --chunked OUTDIR     (the large fixture, made at test time)
"""
import hashlib
import json
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
HDF5_OBJECT_HEADER_LIMIT = 64512  # Keras's constant


def save_attributes_to_hdf5_group(group, name, data, h5py2_strings=False):
    """Keras's, verbatim but for h5py2_strings: h5py 2 turned a list of bytes into |S<n>."""
    bad_attributes = [x for x in data if len(x) > HDF5_OBJECT_HEADER_LIMIT]
    if bad_attributes:
        raise RuntimeError("attribute too large")
    data_npy = np.asarray(data)
    num_chunks = 1
    chunked_data = np.array_split(data_npy, num_chunks)
    while any(x.nbytes > HDF5_OBJECT_HEADER_LIMIT for x in chunked_data):
        num_chunks += 1
        chunked_data = np.array_split(data_npy, num_chunks)
    if num_chunks > 1:
        for chunk_id, chunk_data in enumerate(chunked_data):
            group.attrs["%s%d" % (name, chunk_id)] = chunk_data
    else:
        group.attrs[name] = data_npy if (h5py2_strings and len(data)) else data


def save_subset_weights_to_hdf5_group(f, weights, h5py2_strings):
    weight_names = [name.encode("utf8") for name, _ in weights]
    save_attributes_to_hdf5_group(f, "weight_names", weight_names, h5py2_strings)
    for name, val in zip(weight_names, [v for _, v in weights]):
        param_dset = f.create_dataset(name, val.shape, dtype=val.dtype)
        if not val.shape:
            param_dset[()] = val
        else:
            param_dset[:] = val


def save_weights_to_hdf5_group(f, layers, keras_version, h5py2_strings, top_level=True):
    encode = (lambda s: np.bytes_(s.encode("utf8"))) if h5py2_strings else (lambda s: s.encode("utf8"))
    save_attributes_to_hdf5_group(f, "layer_names", [name.encode("utf8") for name, _ in layers], h5py2_strings)
    f.attrs["backend"] = encode("tensorflow")
    f.attrs["keras_version"] = encode(keras_version)
    # Sort model layers by layer name to ensure that group names are strictly growing.
    for name, weights in sorted(layers, key=lambda x: x[0]):
        save_subset_weights_to_hdf5_group(f.create_group(name), weights, h5py2_strings)
    if top_level:  # Keras >= 2.11 writes this group; the model's own weights, none here
        save_subset_weights_to_hdf5_group(f.create_group("top_level_model_weights"), [], h5py2_strings)


def rng_array(rng, shape, dtype="float32"):
    return (rng.standard_normal(size=shape) * 0.5).astype(dtype)


def sequential_layers():
    """Conv2D -> BatchNormalization -> Reshape -> LSTM -> Flatten -> Dense, as Keras 2 names them."""
    rng = np.random.default_rng(7)
    return [
        ("conv2d", [("conv2d/kernel:0", rng_array(rng, (3, 3, 1, 4))), ("conv2d/bias:0", rng_array(rng, (4,)))]),
        ("batch_normalization", [
            ("batch_normalization/gamma:0", 1 + rng_array(rng, (4,))),
            ("batch_normalization/beta:0", rng_array(rng, (4,))),
            ("batch_normalization/moving_mean:0", rng_array(rng, (4,))),
            ("batch_normalization/moving_variance:0", np.abs(rng_array(rng, (4,))) + 0.5),
        ]),
        ("reshape", []),
        ("lstm", [
            ("lstm/lstm_cell/kernel:0", rng_array(rng, (24, 20))),
            ("lstm/lstm_cell/recurrent_kernel:0", rng_array(rng, (5, 20))),
            ("lstm/lstm_cell/bias:0", rng_array(rng, (20,))),
        ]),
        ("flatten", []),
        ("dense", [("dense/kernel:0", rng_array(rng, (30, 3))), ("dense/bias:0", rng_array(rng, (3,)))]),
    ]


def full_model_layers():
    """Dense (float64 policy) -> Dropout -> Dense (float16 policy)."""
    rng = np.random.default_rng(11)
    return [
        ("dense", [("dense/kernel:0", rng_array(rng, (6, 4), "float64")), ("dense/bias:0", rng_array(rng, (4,), "float64"))]),
        ("dropout", []),
        ("dense_1", [("dense_1/kernel:0", rng_array(rng, (4, 2), "float16")),
                     ("dense_1/bias:0", rng_array(rng, (2,), "float16"))]),
    ]


def dense_config(name, units, activation, dtype):
    init = lambda cls: {"module": "keras.initializers", "class_name": cls, "config": {"seed": None} if cls != "Zeros" else {},
                        "registered_name": None}
    return {"module": "keras.layers", "class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": dtype, "units": units, "activation": activation, "use_bias": True,
        "kernel_initializer": init("GlorotUniform"), "bias_initializer": init("Zeros"), "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
        "registered_name": None, "build_config": {"input_shape": [None, 6 if name == "dense" else 4]}}


def full_model_config():
    """model.get_config() of the full-model fixture's Sequential, as Keras 2.13 writes it."""
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {
            "batch_input_shape": [None, 6], "dtype": "float64", "sparse": False, "ragged": False,
            "name": "dense_input"}, "registered_name": None},
        dense_config("dense", 4, "relu", "float64"),
        {"module": "keras.layers", "class_name": "Dropout", "config": {
            "name": "dropout", "trainable": True, "dtype": "float64", "rate": 0.25, "noise_shape": None, "seed": None},
         "registered_name": None, "build_config": {"input_shape": [None, 4]}},
        dense_config("dense_1", 2, "softmax", "float16"),
    ]}}


def write_expected(outdir, stem, layers, keras_version, model_config=None, extra=()):
    arrays = {name: value for _, weights in layers for name, value in weights}
    arrays.update(dict(extra))
    np.savez(os.path.join(outdir, stem + ".expected.npz"), **arrays)
    meta = {"keras_version": keras_version, "backend": "tensorflow", "names": list(arrays),
            "model_config": json.dumps(model_config) if model_config is not None else None}
    with open(os.path.join(outdir, stem + ".expected.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def write_save_weights(outdir):
    """model.save_weights("w.h5") in tf.keras 2.4 with h5py 2: weights at the root, fixed strings."""
    layers = sequential_layers()
    with h5py.File(os.path.join(outdir, "save_weights.h5"), "w") as f:
        save_weights_to_hdf5_group(f, layers, "2.4.0", h5py2_strings=True, top_level=False)
    write_expected(outdir, "save_weights", layers, "2.4.0")


def write_full_model(outdir):
    """model.save("m.h5") in Keras 2.13 with h5py 3: /model_weights, model_config, optimizer weights."""
    layers = full_model_layers()
    config = full_model_config()
    with h5py.File(os.path.join(outdir, "full_model.h5"), "w") as f:
        metadata = {"keras_version": "2.13.1", "backend": "tensorflow", "model_config": config,
                    "training_config": {"loss": "categorical_crossentropy", "metrics": None, "weighted_metrics": None,
                                        "loss_weights": None, "optimizer_config": {"class_name": "Custom>Adam",
                                        "config": {"name": "Adam", "learning_rate": 0.001}}}}
        for k, v in metadata.items():
            f.attrs[k] = json.dumps(v).encode("utf8") if isinstance(v, (dict, list, tuple)) else v
        save_weights_to_hdf5_group(f.create_group("model_weights"), layers, "2.13.1", h5py2_strings=False)
        # save_optimizer_weights_to_hdf5_group: not model weights, not read.
        opt = [("iteration:0", np.array(5, np.int64)), ("Adam/m/dense/kernel:0", np.zeros((6, 4)))]
        save_subset_weights_to_hdf5_group(f.create_group("optimizer_weights"), opt, False)
    write_expected(outdir, "full_model", layers, "2.13.1", config)


def write_dtypes(outdir):
    """One weight per numpy type h5py writes (bool as h5py's enum), a scalar, an empty one, and
    big-endian ones, which must come out little endian."""
    rng = np.random.default_rng(3)
    weights = []
    for dt in ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64"]:
        if dt == "bool":
            v = rng.integers(0, 2, size=(2, 3)).astype(bool)
        elif dt[0] in "iu":
            info = np.iinfo(dt)
            v = rng.integers(info.min, info.max, size=(2, 3), dtype=dt, endpoint=True)
        else:
            v = rng_array(rng, (2, 3), dt)
        weights.append((f"custom/{dt}:0", v))
    weights.append(("custom/step:0", np.array(42, np.int64)))
    weights.append(("custom/empty:0", np.zeros((0, 3), np.float32)))
    big = [("custom/big_f32:0", rng_array(rng, (3, 2), ">f4")), ("custom/big_i16:0", np.arange(-3, 3, dtype=">i2"))]
    layers = [("custom", weights + big)]
    with h5py.File(os.path.join(outdir, "dtypes.h5"), "w") as f:
        save_weights_to_hdf5_group(f, layers, "2.13.1", h5py2_strings=False)
    expected = [("custom", weights + [(n, v.astype(v.dtype.newbyteorder("<"))) for n, v in big])]
    write_expected(outdir, "dtypes", expected, "2.13.1")


def write_bad(outdir):
    """Inputs npyflow must refuse, each for one reason."""
    rng = np.random.default_rng(5)
    with open(os.path.join(outdir, "not_hdf5.h5"), "wb") as f:
        f.write(b"\x93NUMPY this is not an HDF5 file\n" * 4)
    # An HDF5 file of some other program's.
    with h5py.File(os.path.join(outdir, "plain.h5"), "w") as f:
        f.attrs["created_by"] = "a data pipeline"
        f.create_dataset("labels", data=np.arange(4, dtype=np.int32))
        f.create_group("images").create_dataset("train", data=np.zeros((2, 2), np.uint8))
    # weight_names lists a weight whose dataset is not there.
    with h5py.File(os.path.join(outdir, "missing_weight.h5"), "w") as f:
        save_weights_to_hdf5_group(f, [("dense", [("dense/kernel:0", rng_array(rng, (2, 2)))])], "2.13.1", False)
        f["dense"].attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
    # A weight that holds strings.
    with h5py.File(os.path.join(outdir, "string_weight.h5"), "w") as f:
        save_weights_to_hdf5_group(f, [("dense", [("dense/kernel:0", rng_array(rng, (2, 2)))])], "2.13.1", False)
        del f["dense/dense/kernel:0"]
        f["dense/dense"].create_dataset("kernel:0", data=np.array([b"abc", b"de"]))
    # Two layers claiming the same weight name.
    with h5py.File(os.path.join(outdir, "duplicate_weight.h5"), "w") as f:
        same = [("shared/kernel:0", rng_array(rng, (2,)))]
        save_weights_to_hdf5_group(f, [("a", same), ("b", same)], "2.13.1", False)
    # A layer in layer_names without its group.
    with h5py.File(os.path.join(outdir, "missing_layer.h5"), "w") as f:
        save_weights_to_hdf5_group(f, [("dense", [("dense/bias:0", rng_array(rng, (2,)))])], "2.13.1", False)
        f.attrs["layer_names"] = [b"dense", b"dense_1"]
    # A weight that is an external link: reading it would open another file.
    with h5py.File(os.path.join(outdir, "external_link.h5"), "w") as f:
        save_weights_to_hdf5_group(f, [("dense", [("dense/kernel:0", rng_array(rng, (2, 2)))])], "2.13.1", False)
        del f["dense/dense/kernel:0"]
        f["dense/dense/kernel:0"] = h5py.ExternalLink("other.h5", "/kernel")
    # Keras 3's model.save_weights("x.weights.h5") (saving_lib.H5IOStore): layers/<name>/vars/<i>.
    with h5py.File(os.path.join(outdir, "keras3.weights.h5"), "w") as f:
        for layer, shapes in [("dense", [(4, 3), (3,)]), ("dense_1", [(3, 2), (2,)])]:
            group = f.create_group(f"layers/{layer}/vars")
            for i, shape in enumerate(shapes):
                group[f"{i}"] = rng_array(rng, shape)
        f.create_group("optimizer/vars")["0"] = np.array(3, np.int64)


def write_chunked(outdir):
    """layer_names over Keras's 64512-byte limit, split into layer_names0, layer_names1 (fixed
    strings, as Keras passes numpy arrays then); too large to commit."""
    rng = np.random.default_rng(9)
    layers = [(f"dense_{i}_" + "x" * 1700, [(f"dense_{i}/bias:0", rng_array(rng, (2,)))] if i % 3 == 0 else [])
              for i in range(40)]
    with h5py.File(os.path.join(outdir, "chunked_attributes.h5"), "w") as f:
        save_weights_to_hdf5_group(f, layers, "2.13.1", h5py2_strings=False)
        assert "layer_names0" in f.attrs and "layer_names1" in f.attrs and "layer_names" not in f.attrs
    write_expected(outdir, "chunked_attributes", layers, "2.13.1")


def write_seeds(seeddir):
    """Small files for fuzz_h5: Keras's layout in HDF5's compact newest format (libver="latest",
    a few hundred bytes) and in the default one, each under fuzz_h5's 16 KiB -max_len. Groups
    of the newest format record their creation time, so these differ from run to run."""
    os.makedirs(seeddir, exist_ok=True)
    for name in os.listdir(seeddir):
        os.remove(os.path.join(seeddir, name))
    rng = np.random.default_rng(13)
    tiny = [("dense", [("dense/kernel:0", rng_array(rng, (2, 3))), ("dense/bias:0", rng_array(rng, (3,), "float16")),
                       ("dense/flag:0", np.array([True, False]))]),
            ("flatten", [])]
    seeds = []
    for libver, full in [(v, full) for v in ("latest", "earliest") for full in (False, True)]:
        path = os.path.join(seeddir, "tmp.h5")
        with h5py.File(path, "w", libver=libver) as f:
            group = f.create_group("model_weights") if full else f
            if full:
                f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {}}).encode("utf8")
            save_weights_to_hdf5_group(group, tiny, "2.13.1", h5py2_strings=libver == "earliest")
        seeds.append(open(path, "rb").read())
        os.remove(path)
    with h5py.File(os.path.join(seeddir, "tmp.h5"), "w", libver="latest") as f:
        f.create_group("layers/dense/vars")["0"] = np.zeros(2, np.float32)
    seeds.append(open(os.path.join(seeddir, "tmp.h5"), "rb").read())
    os.remove(os.path.join(seeddir, "tmp.h5"))
    for content in seeds:
        assert len(content) <= 16384, len(content)
        with open(os.path.join(seeddir, hashlib.sha1(content).hexdigest()[:16]), "wb") as f:
            f.write(content)


def main(argv):
    if argv[1:2] == ["--chunked"]:
        os.makedirs(argv[2], exist_ok=True)
        write_chunked(argv[2])
        return
    outdir = argv[1] if len(argv) > 1 else os.path.join(HERE, "fixtures", "keras_h5")
    seeddir = argv[2] if len(argv) > 2 else os.path.join(HERE, "..", "fuzz", "corpus", "h5")
    os.makedirs(outdir, exist_ok=True)
    write_save_weights(outdir)
    write_full_model(outdir)
    write_dtypes(outdir)
    write_bad(outdir)
    write_seeds(seeddir)


if __name__ == "__main__":
    main(sys.argv)
