#!/usr/bin/python3
"""Writes the pickled weight fixtures of tests/io/test_pickle.cpp and test_torch_checkpoint.cpp:
files written by numpy (np.save of object arrays, pickle.dump) and PyTorch (torch.save), each
next to FILE.expected.npz (list.npy.expected.npz), a plain .npz numpy wrote with the names, dtypes, shapes and values
npyflow must read from it; and hostile/, pickles and checkpoints npyflow must refuse, each with
the words its message must hold in hostile/expected.txt. Committed; rerun after changes:

    tests/io/make_pickle_fixtures.py [OUTDIR]   (default tests/io/fixtures/pickle)
"""
import io
import os
import pickle
import shutil
import struct
import sys
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
# Where the os.system pickle would leave its mark, if anything ever ran it.
MARKER = "/tmp/npyflow_pickle_fixture_was_executed"


def rng(seed):
    return np.random.default_rng(seed)


def ragged(n, arrays):
    """An object array of arrays of different shapes (np.array would try to stack them)."""
    a = np.empty(n, dtype=object)
    for i, x in enumerate(arrays):
        a[i] = x
    return a


def zero_d(value):
    a = np.empty((), dtype=object)
    a[()] = value
    return a


def c_order_little(a):
    """What npyflow yields: C order, little endian; 0-d stays 0-d (np.ascontiguousarray would not)."""
    a = np.asarray(a)
    return np.array(a, dtype=a.dtype.newbyteorder("<"), order="C")


def save_expected(out, name, named):
    np.savez(os.path.join(out, name + ".expected.npz"), **named)  # name: the fixture file's


def positional(arrays):
    return {f"arr_{i}": a for i, a in enumerate(arrays)}


def numpy_fixtures(out):
    r = rng(1)
    kernel = r.standard_normal((4, 3)).astype(np.float32)
    bias = r.standard_normal(3).astype(np.float32)
    fortran = np.asfortranarray(r.standard_normal((3, 5)).astype(np.float32))
    arrays = [kernel, r.standard_normal(5), np.arange(6, dtype=np.int64).reshape(2, 3)]

    # np.save of a list of ragged arrays: a (3,) object array.
    np.save(os.path.join(out, "list.npy"), ragged(3, arrays), allow_pickle=True)
    save_expected(out, "list.npy", positional(arrays))

    # A tuple, held by a 0-d object array.
    np.save(os.path.join(out, "tuple.npy"), zero_d((kernel, bias)), allow_pickle=True)
    save_expected(out, "tuple.npy", positional([kernel, bias]))

    # A dict with TF1-style names, as np.save(path, dict) writes it (a 0-d object array).
    tf1 = {"dense/kernel": kernel, "dense/bias": bias, "dense_1/kernel:0": fortran}
    np.save(os.path.join(out, "dict.npy"), tf1, allow_pickle=True)
    save_expected(out, "dict.npy", tf1)

    # Nested lists and tuples flatten depth first.
    a, b, c, d = (r.standard_normal(i + 1).astype(np.float32) for i in range(4))
    np.save(os.path.join(out, "nested.npy"), ragged(3, [a, [b, (c,)], (d,)]), allow_pickle=True)
    save_expected(out, "nested.npy", positional([a, b, c, d]))

    # Every dtype npyflow holds, big endian and Fortran order and 0-d and empty among them.
    dtypes = {
        "f16": r.standard_normal((2, 3)).astype(np.float16),
        "f64": r.standard_normal((3, 2)),
        "i8": np.array([-128, 0, 127], dtype=np.int8),
        "u8": np.array([0, 200, 255], dtype=np.uint8),
        "i16": np.array([-30000, 5], dtype=np.int16),
        "i32": np.array([[1, -2], [3, -4]], dtype=np.int32),
        "u16": np.array([65535], dtype=np.uint16),
        "u32": np.array([4000000000], dtype=np.uint32),
        "u64": np.array([2**64 - 1], dtype=np.uint64),
        "bool": np.array([True, False, True]),
        "big_f32": np.arange(6, dtype=">f4").reshape(2, 3),
        "big_i64": np.array([1, -1, 2**40], dtype=">i8"),
        "fortran_f64": np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4)),
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    np.save(os.path.join(out, "dtypes.npy"), dtypes, allow_pickle=True)
    save_expected(out, "dtypes.npy", {k: c_order_little(v) for k, v in dtypes.items()})

    # Int keys bind by their decimal spelling; a dict of arrays may sit in a list with other things.
    np.save(os.path.join(out, "int_keys.npy"), zero_d({0: kernel, 7: bias}), allow_pickle=True)
    save_expected(out, "int_keys.npy", {"0": kernel, "7": bias})

    # Plain pickle.dump files, every protocol numpy arrays pickle differently in.
    plain = {"w": kernel, "b": bias, "f": fortran, "h": dtypes["f16"], "big": dtypes["big_f32"],
             "empty": dtypes["empty"], "s": np.float64(3.5)}
    expected_plain = {k: c_order_little(v) for k, v in plain.items()}
    for protocol in (0, 2, 4, 5):
        with open(os.path.join(out, f"protocol{protocol}.pkl"), "wb") as f:
            pickle.dump(plain, f, protocol=protocol)
        save_expected(out, f"protocol{protocol}.pkl", expected_plain)

    # A checkpoint saved with pickle: the weights are the one dict of arrays inside.
    ckpt = {"epoch": 3, "lr": 0.1, "name": "mlp", "history": [0.5, 0.25], "weights": {"w": kernel, "b": bias}}
    with open(os.path.join(out, "checkpoint.pkl"), "wb") as f:
        pickle.dump(ckpt, f, protocol=4)
    save_expected(out, "checkpoint.pkl", {"w": kernel, "b": bias})


def tensor_expected(sd):
    def conv(t):
        if t.dtype == torch.bfloat16:
            return t.float().numpy()
        return t.contiguous().numpy()
    return {k: conv(v) for k, v in sd.items()}


def torch_fixtures(out):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    model.train()
    model(torch.randn(8, 4))  # running statistics and num_batches_tracked move
    sd = model.state_dict()
    torch.save(sd, os.path.join(out, "state_dict.pth"))
    save_expected(out, "state_dict.pth", tensor_expected(sd))

    # Views: a transposed weight, rows and columns and a tail of one storage.
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    views = {"w": w, "wt": w.t(), "row": w[1], "col": w[:, 2], "tail": w.view(-1)[5:], "sub": w[1:, 1::2]}
    torch.save(views, os.path.join(out, "views.pth"))
    save_expected(out, "views.pth", tensor_expected(views))

    # A training checkpoint; with plain SGD the optimizer keeps no tensors, so the model's are the weights.
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ckpt = {"epoch": 3, "model": sd, "optimizer": opt.state_dict()}
    torch.save(ckpt, os.path.join(out, "checkpoint.pth"))
    save_expected(out, "checkpoint.pth", tensor_expected(sd))

    # Adam after a step keeps tensors per parameter, under integer keys: the model is still the one state dict.
    adam = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(8, 4)).sum().backward()
    adam.step()
    torch.save({"epoch": 4, "model": sd, "optimizer": adam.state_dict()}, os.path.join(out, "checkpoint_adam.pth"))
    save_expected(out, "checkpoint_adam.pth", tensor_expected(sd))

    # A dict in a dict, the state_dict under "state_dict" beside metadata.
    inner = {"encoder.weight": torch.randn(2, 3), "encoder.bias": torch.randn(2)}
    torch.save({"state_dict": inner, "meta": {"name": "enc", "version": 2}}, os.path.join(out, "dict_in_dict.pth"))
    save_expected(out, "dict_in_dict.pth", tensor_expected(inner))

    # Every element type torch.save writes that npyflow reads; bfloat16 becomes float32.
    types = {
        "bf16": torch.tensor([1.0, -2.5, 3.140625, 1e30, -0.0], dtype=torch.bfloat16),
        "f16": torch.tensor([[0.5, -1.0], [65504.0, 1e-7]], dtype=torch.float16),
        "f64": torch.tensor([1.0 / 3.0, -2.0], dtype=torch.float64),
        "i64": torch.tensor(5, dtype=torch.int64),
        "i32": torch.tensor([-7, 7], dtype=torch.int32),
        "i16": torch.tensor([-300], dtype=torch.int16),
        "i8": torch.tensor([-100, 100], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False]),
        "bf16_t": torch.randn(2, 3).to(torch.bfloat16).t(),
        "empty": torch.zeros(0, 4),
    }
    torch.save(types, os.path.join(out, "dtypes.pth"))
    save_expected(out, "dtypes.pth", tensor_expected(types))

    # Parameters (torch._utils._rebuild_parameter), as a whole model's parameters save.
    params = {"p": torch.nn.Parameter(torch.randn(2, 2)), "q": torch.nn.Parameter(torch.randn(3), requires_grad=False)}
    torch.save(params, os.path.join(out, "parameters.pth"))
    save_expected(out, "parameters.pth", {k: v.detach().numpy() for k, v in params.items()})

    # A list of tensors binds positionally.
    tensors = [torch.randn(2), torch.randn(1, 3)]
    torch.save(tensors, os.path.join(out, "list.pth"))
    save_expected(out, "list.pth", positional([t.numpy() for t in tensors]))

    # Big-endian: the same views with a byteorder record of "big" and every storage swapped.
    rewrite_zip(os.path.join(out, "views.pth"), os.path.join(out, "big_endian.pth"), big_endian=True)
    save_expected(out, "big_endian.pth", tensor_expected(views))

    torch.save(sd, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)


def rewrite_zip(src, dst, big_endian=False, replace=None, drop=()):
    """Copies a torch.save zip, optionally byte-swapping its float32 storages (as a big-endian
    machine writes them), replacing members, or dropping them."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        prefix = zin.namelist()[0].split("/")[0]
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info)
            if replace and info.filename in replace:
                data = replace[info.filename]
            if big_endian and "/data/" in info.filename:
                data = np.frombuffer(data, "<f4").astype(">f4").tobytes()
            zout.writestr(info.filename, data)
        if big_endian:
            zout.writestr(prefix + "/byteorder", b"big")


# ---- hostile inputs ----

def u(text):
    b = text.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def ints(*values):
    out = b"("
    for v in values:
        out += b"\x8a\x08" + struct.pack("<q", v)
    return out + b"t"


def array_pickle(shape_tuple, dtype_name, data_op, order="<"):
    """An ndarray pickled as numpy does, from parts a test may corrupt."""
    return (b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
            b"(K\x01" + shape_tuple + b"cnumpy\ndtype\n" + u(dtype_name) + b"\x89\x88\x87R"
            b"(K\x03" + u(order) + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89" + data_op + b"tb.")


def object_npy(pickle_bytes, shape="()"):
    header = "{'descr': '|O', 'fortran_order': False, 'shape': %s, }" % shape
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + pickle_bytes


def torch_zip(data_pkl, storages, prefix="archive"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(prefix + "/data.pkl", data_pkl)
        for key, data in storages.items():
            z.writestr(f"{prefix}/data/{key}", data)
        z.writestr(prefix + "/version", b"3\n")
    return buf.getvalue()


def tensor_pkl(size, stride, offset=0, numel=4, storage="FloatStorage", key="0"):
    return (b"\x80\x02ccollections\nOrderedDict\n)R(" + u("t") + b"ctorch._utils\n_rebuild_tensor_v2\n("
            b"(" + u("storage") + b"ctorch\n" + storage.encode() + b"\n" + u(key) + u("cpu") + b"\x8a\x08" +
            struct.pack("<q", numel) + b"tQ" + b"\x8a\x08" + struct.pack("<q", offset) + ints(*size) + ints(*stride) +
            b"\x89ccollections\nOrderedDict\n)RtRu.")


class RunsShell:
    def __reduce__(self):
        return (os.system, ("touch " + MARKER,))


class Custom:
    def __init__(self):
        self.x = 1


class Evaluates:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch %s')" % MARKER,))


def hostile_fixtures(out):
    cases = {}  # file name -> words the refusal must hold
    good = np.arange(3, dtype=np.float32)

    cases["os_system.npy"] = (object_npy(pickle.dumps(RunsShell(), protocol=3)),
                              "the pickle asks for 'posix.system', which is not an array, list, tuple or dict; "
                              "npyflow loads only numpy's and PyTorch's arrays and never runs code")
    cases["custom_class.npy"] = (object_npy(pickle.dumps(Custom(), protocol=3)), "the pickle asks for '__main__.Custom'")
    # Protocol 2 spells builtins as Python 2 did; protocol 4 as Python 3 does.
    cases["eval.pkl"] = (pickle.dumps(Evaluates(), protocol=2), "the pickle asks for '__builtin__.eval'")
    cases["eval4.pkl"] = (pickle.dumps(Evaluates(), protocol=4), "the pickle asks for 'builtins.eval'")
    cases["os_system.pth"] = (torch_zip(pickle.dumps(RunsShell(), protocol=2), {}), "the pickle asks for 'posix.system'")
    recursive = []
    recursive.append(recursive)
    cases["recursive_list.pkl"] = (pickle.dumps(recursive, protocol=2), "nests containers more than 100 deep")
    selfdict = {"a": 1}
    selfdict["me"] = selfdict
    cases["recursive_dict.pkl"] = (pickle.dumps(selfdict, protocol=2), "holds no arrays to use as weights")
    # A list holding one list twice, 40 levels deep: 2^40 arrays in a few hundred bytes.
    shared = [good]
    for _ in range(40):
        shared = [shared, shared]
    cases["shared_lists.pkl"] = (pickle.dumps(shared, protocol=2), "refer to more than 1048576 values")
    cases["huge_binbytes8.pkl"] = (b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"abc.",
                                   "truncated: BINBYTES8 needs 4611686018427387904 bytes, 4 remain")
    cases["huge_binunicode.pkl"] = (b"\x80\x02X\xff\xff\xff\xffab.", "truncated: BINUNICODE needs 4294967295 bytes")
    cases["huge_shape.npy"] = (object_npy(array_pickle(ints(2**40, 2**40), "f4", b"C\x04abcd")),
                               "shape (1099511627776, 1099511627776) of float32 is too big for numpy")
    cases["short_data.npy"] = (object_npy(array_pickle(ints(3), "f4", b"C\x08" + good.tobytes()[:8])),
                               "a numpy array of shape (3,) float32 needs 12 bytes, the pickle holds 8")
    cases["negative_dim.npy"] = (object_npy(array_pickle(ints(-3), "f4", b"C\x0c" + good.tobytes())),
                                 "array shape holds something other than non-negative integers")
    cases["many_dims.npy"] = (object_npy(array_pickle(ints(*([1] * 65)), "f4", b"C\x04" + good.tobytes()[:4])),
                              "array shape has 65 dimensions, more than numpy's limit of 64")
    cases["complex.npy"] = (object_npy(array_pickle(ints(1), "c8", b"C\x08" + bytes(8))),
                            "complex arrays are not supported")
    cases["structured.npy"] = (object_npy(pickle.dumps(np.zeros(2, dtype=[("a", "<f4")]), protocol=3)),
                               "structured and subarray dtypes are not supported")
    cases["memo_out_of_range.pkl"] = (b"\x80\x02h\x05.", "memo index 5 was never stored")
    cases["long_memo.pkl"] = (b"\x80\x02j\xff\xff\xff\xff.", "memo index 4294967295 was never stored")
    cases["stack_underflow.pkl"] = (b"\x80\x02a.", "stack underflow")
    cases["pop_past_mark.pkl"] = (b"\x80\x02K\x01(a.", "stack underflow")
    cases["appends_without_mark.pkl"] = (b"\x80\x02]K\x01e.", "no MARK to pop to")
    cases["setitems_odd.pkl"] = (b"\x80\x02}(K\x01u.", "SETITEMS with a key and no value")
    cases["append_to_dict.pkl"] = (b"\x80\x02}K\x01a.", "APPEND to a dict, not a list")
    cases["unknown_opcode.pkl"] = (b"\x80\x02\xff.", "unknown opcode 0xff")
    cases["protocol6.pkl"] = (b"\x80\x06N.", "unsupported pickle protocol 6")
    cases["no_stop.pkl"] = (b"\x80\x02N", "truncated: an opcode or its argument needs 1 bytes, 0 remain")
    cases["huge_long.pkl"] = (b"\x80\x02\x8a\x09" + bytes(9) + b".", "an integer of 9 bytes is too large")
    cases["set.pkl"] = (pickle.dumps({1, 2}, protocol=4), "the EMPTY_SET opcode is not supported")
    cases["object_count.npy"] = (object_npy(
        b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01" + ints(3) +
        b"cnumpy\ndtype\n" + u("O8") + b"\x89\x88\x87R(K\x03" + u("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb"
        b"\x89]tb.", "(3,)"), "an object array of shape (3,) holds 0 elements, not 3")
    cases["shape_mismatch.npy"] = (object_npy(pickle.dumps(ragged(2, [good, good]), protocol=3), "(5,)"),
                                   "the header declares an object array of shape (5,), but its pickle holds one of shape (2,)")
    cases["not_object.npy"] = (object_npy(pickle.dumps(good, protocol=3)).replace(b"|O", b"<f", 1),
                               "not an object array: its dtype is '<f'")
    cases["mixed_list.npy"] = (object_npy(pickle.dumps(ragged(2, [good, "text"]), protocol=3), "(2,)"),
                               "position 1 holds a str, not an array")
    cases["duplicate_name.pkl"] = (pickle.dumps({1: good, "1": good}, protocol=2), "the array name '1' appears twice")
    cases["string_root.pkl"] = (pickle.dumps("weights", protocol=2), "no arrays to use as weights: its root is a str")
    cases["two_state_dicts.pkl"] = (pickle.dumps({"a": {"w": good}, "b": [{"v": good, "u": good}]}, protocol=2),
                                    "the pickle holds 2 dicts of arrays: 'a' (1 arrays), 'b/0' (2 arrays); pass --weights-key")
    cases["persistent_id.pkl"] = (b"\x80\x02" + u("x") + b"Q.", "refers to PyTorch storages kept outside it")
    cases["legacy.pth"] = (None, "an old PyTorch checkpoint (before 1.6); re-save it with torch.save(obj, path, "
                                 "_use_new_zipfile_serialization=True)")
    cases["tar.pth"] = (bytes(257) + b"ustar" + bytes(250), "an old PyTorch checkpoint (before 1.6)")
    cases["text.pth"] = (b"hello, not weights\n", "not a PyTorch checkpoint: neither a zip (torch.save) nor a pickle")
    cases["no_data_pkl.pth"] = (zipfile_bytes({"x/version": b"3"}), "a zip without data.pkl")
    floats = np.arange(4, dtype=np.float32).tobytes()
    cases["view_out_of_storage.pth"] = (torch_zip(tensor_pkl([2, 3], [3, 1]), {"0": floats}),
                                        "a tensor of size (2, 3), stride (3, 1) at offset 0 reaches element 5 of "
                                        "storage '0', which holds 4")
    cases["offset_out_of_storage.pth"] = (torch_zip(tensor_pkl([1], [1], offset=4), {"0": floats}), "reaches element 4")
    cases["stride_overflow.pth"] = (torch_zip(tensor_pkl([3], [2**62]), {"0": floats}), "overflow")
    cases["missing_storage.pth"] = (torch_zip(tensor_pkl([4], [1]), {}), "refers to storage '0', which the zip lacks")
    cases["storage_size.pth"] = (torch_zip(tensor_pkl([4], [1], numel=8), {"0": floats}),
                                 "storage '0' should hold 8 FloatStorage elements, but its member holds 16 bytes")
    cases["complex_storage.pth"] = (torch_zip(tensor_pkl([1], [1], numel=2, storage="ComplexFloatStorage"),
                                              {"0": floats}), "a tensor of type ComplexFloatStorage")
    cases["sizes_strides.pth"] = (torch_zip(tensor_pkl([4], [1, 1]), {"0": floats}), "a tensor has 1 sizes and 2 strides")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", tensor_pkl([4], [1]))
        z.writestr("archive/data/0", floats)
        z.writestr("archive/byteorder", b"middle")
    cases["bad_byteorder.pth"] = (buf.getvalue(), "byteorder is 'middle', not 'little' or 'big'")

    os.makedirs(out)
    with open(os.path.join(out, "expected.txt"), "w") as listing:
        for name, (content, words) in cases.items():
            if content is not None:
                with open(os.path.join(out, name), "wb") as f:
                    f.write(content)
            listing.write(f"{name}\t{words}\n")


def zipfile_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def main(out):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    numpy_fixtures(out)
    torch_fixtures(out)
    hostile_fixtures(os.path.join(out, "hostile"))
    shutil.copy(os.path.join(out, "legacy.pth"), os.path.join(out, "hostile", "legacy.pth"))
    os.remove(os.path.join(out, "legacy.pth"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "fixtures", "pickle"))
