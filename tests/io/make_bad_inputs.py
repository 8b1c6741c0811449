#!/usr/bin/python3
"""Writes one file for every class of bad .npy/.npz input npyflow must reject, and
expected.json: for each file, a fragment its one-line error must contain, and whether the
error only shows once the data is read (CRC and deflate errors), not from headers alone.

Files are built byte by byte (zip records too) so every field is under the test's control.

usage: make_bad_inputs.py OUTDIR
"""
import json
import os
import struct
import sys
import zlib


def npy(header, data=b"", version=(1, 0), length=None):
    """An .npy file with the given header text, padded as numpy pads."""
    text = header.encode("latin1") if isinstance(header, str) else header
    width = 2 if version[0] == 1 else 4
    if length is None:
        total = 8 + width + len(text) + 1
        text += b" " * ((64 - total % 64) % 64) + b"\n"
        length = len(text)
    return b"\x93NUMPY" + bytes(version) + length.to_bytes(width, "little") + text + data


def good_header(descr="<f4", fortran="False", shape="(2, 3)"):
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


GOOD_NPY = npy(good_header(), bytes(24))


def zip_archive(members):
    """A zip built field by field. Each member: name, body (as stored), method, crc, size
    (uncompressed), and optional overrides: csize, flags, local_name."""
    local, central = b"", b""
    for m in members:
        offset = len(local)
        body = m["body"]
        name = m["name"].encode()
        local_name = m.get("local_name", m["name"]).encode()
        csize = m.get("csize", len(body))
        fields = (m.get("flags", 0), m["method"], 0, 0x21, m["crc"], csize, m["size"])
        local += struct.pack("<IHHHHHIII", 0x04034B50, 20, *fields) + struct.pack("<HH", len(local_name), 0)
        local += local_name + body
        central += struct.pack("<IHH", 0x02014B50, 20, 20) + struct.pack("<HHHHIII", *fields)
        central += struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local), 0)
    return local + central + end


def stored(name, content, **overrides):
    m = {"name": name, "body": content, "method": 0, "crc": zlib.crc32(content), "size": len(content)}
    m.update(overrides)
    return m


def raw_deflate(content):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(content) + c.flush()


def deflated(name, content, body=None, **overrides):
    m = {"name": name, "body": raw_deflate(content) if body is None else body, "method": 8,
         "crc": zlib.crc32(content), "size": len(content)}
    m.update(overrides)
    return m


def stored_deflate_block(payload, final):
    """A deflate 'stored' block: lets a test put readable bytes before a broken part."""
    return bytes([1 if final else 0]) + struct.pack("<HH", len(payload), len(payload) ^ 0xFFFF) + payload


def cases():
    # A member whose first 60 KB inflate fine and whose rest is broken: reading only its
    # header must succeed (the reader inflates at most a buffer beyond the header), reading
    # its data must fail.
    big = npy(good_header(shape="(100000,)"), bytes(400000))
    readable = big[:60000]
    c = {}

    # --- .npy: preamble ---
    c["bad_magic.npy"] = (b"\x93NUMPX\x01\x00" + GOOD_NPY[8:], "bad magic")
    c["zip_named_npy.npy"] = (b"hello world, not numpy", "bad magic")
    c["empty_file.npy"] = (b"", "bad magic")
    c["bad_version.npy"] = (npy(good_header(), bytes(24), version=(4, 0)), "unsupported .npy format version 4.0")
    c["bad_minor_version.npy"] = (npy(good_header(), bytes(24), version=(1, 1)), "unsupported .npy format version 1.1")
    c["truncated_preamble.npy"] = (b"\x93NUMPY\x01\x00\x10", "too short")
    c["header_past_eof.npy"] = (npy(good_header(), length=5000), "header length 5000 runs past the end of the file")
    c["v2_header_len_huge.npy"] = (npy(good_header(), version=(2, 0), length=0xFFFFFFF0),
                                   "header length 4294967280 runs past the end of the file")
    long_header = good_header()[:-1] + " " * 10100 + "}"
    c["header_over_cap.npy"] = (npy(long_header, bytes(24), version=(2, 0)), "over numpy's limit of 10000")
    # --- .npy: header dict ---
    c["not_a_dict.npy"] = (npy("['descr', '<f4']", bytes(24)), "not a valid dict literal")
    c["header_garbage.npy"] = (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} extra", bytes(24)),
                               "unexpected text after the dict")
    c["missing_shape.npy"] = (npy("{'descr': '<f4', 'fortran_order': False}", bytes(24)), "lacks the key 'shape'")
    c["extra_key.npy"] = (npy(good_header()[:-1] + "'foo': 1}", bytes(24)), "unexpected key 'foo'")
    c["duplicate_key.npy"] = (npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
                                  bytes(24)), "key 'descr' twice")
    c["fortran_order_int.npy"] = (npy(good_header(fortran="0"), bytes(24)), "'fortran_order' must be True or False")
    c["shape_list.npy"] = (npy(good_header(shape="[2, 3]"), bytes(24)), "'shape' must be a tuple")
    c["shape_int.npy"] = (npy(good_header(shape="(6)"), bytes(24)), "'shape' must be a tuple")
    c["negative_dim.npy"] = (npy(good_header(shape="(-3, 4)"), bytes(24)), "negative dimension -3")
    c["float_dim.npy"] = (npy(good_header(shape="(3.5,)"), bytes(24)), "'3.5' in shape is not an integer")
    c["huge_dim.npy"] = (npy(good_header(shape="(99999999999999999999,)"), bytes(24)), "is too large")
    c["shape_overflow.npy"] = (npy(good_header(descr="<f8", shape="(1099511627776, 1099511627776)"), bytes(24)),
                               "overflows 63 bits")
    c["too_many_dims.npy"] = (npy(good_header(shape="(" + "1, " * 65 + ")"), bytes(4)),
                              "65 dimensions, more than numpy's limit of 64")
    c["non_ascii_header.npy"] = (npy(good_header().replace("False", "False ") .encode("latin1")[:-2] + b"\xe9}",
                                     bytes(24)), "non-ASCII")
    c["short_data.npy"] = (npy(good_header(shape="(100,)"), bytes(40)), "data is shorter than the shape declares")
    # --- .npy: dtypes ---
    c["unknown_descr_f1.npy"] = (npy(good_header(descr="<f1"), bytes(6)), "unknown dtype '<f1'")
    c["native_descr.npy"] = (npy(good_header(descr="=f4"), bytes(24)), "unknown dtype '=f4'")
    c["empty_descr.npy"] = (npy(good_header(descr=""), bytes(24)), "unknown dtype ''")
    c["object_dtype.npy"] = (npy(good_header(descr="|O"), bytes(48)), "object (pickled")
    c["structured_dtype.npy"] = (npy("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, "
                                     "'shape': (2,), }", bytes(16)), "structured arrays")
    c["complex_dtype.npy"] = (npy(good_header(descr="<c8"), bytes(48)), "complex")
    c["unicode_dtype.npy"] = (npy(good_header(descr="<U5"), bytes(120)), "unicode string")
    c["bfloat16_void.npy"] = (npy(good_header(descr="|V2"), bytes(12)), "void/raw bytes")

    # --- .npz ---
    a_npy = npy(good_header(), struct.pack("<6f", *range(6)))
    c["truncated.npz"] = (zip_archive([stored("a.npy", a_npy)])[:60], "no end of central directory")
    c["not_a_zip.npz"] = (b"PK but not really a zip archive at all", "no end of central directory")
    whole = zip_archive([stored("a.npy", a_npy)])
    cd_at = whole.index(b"PK\x01\x02")
    c["damaged_central_directory.npz"] = (whole[:cd_at] + b"XX" + whole[cd_at + 2:],
                                          "central directory entry 0 is damaged")
    c["directory_past_end.npz"] = (whole[:cd_at] + whole[-22:-6] + struct.pack("<I", 10**6) + whole[-2:],
                                   "central directory at offset 1000000 runs past the end")
    c["crc_mismatch_stored.npz"] = (zip_archive([stored("a.npy", a_npy, crc=zlib.crc32(a_npy) ^ 1)]),
                                    "CRC-32 mismatch", True)
    c["crc_mismatch_deflated.npz"] = (zip_archive([deflated("a.npy", a_npy, crc=zlib.crc32(a_npy) ^ 1)]),
                                      "CRC-32 mismatch", True)
    c["corrupt_deflate.npz"] = (zip_archive([deflated("big.npy", big, body=stored_deflate_block(readable, False)
                                                      + b"\x07\xff\xff\xff")]), "corrupt deflate data", True)
    c["truncated_deflate.npz"] = (zip_archive([deflated("big.npy", big, body=stored_deflate_block(readable, True))]),
                                  "data ends after", True)
    short = npy(good_header(shape="(10,)"), bytes(32))
    c["member_size_disagrees.npz"] = (zip_archive([stored("a.npy", short)]), "disagrees with its npy header")
    c["duplicate_member.npz"] = (zip_archive([stored("a.npy", a_npy), stored("a.npy", a_npy)]), "appears twice")
    c["local_name_disagrees.npz"] = (zip_archive([stored("a.npy", a_npy, local_name="b.npy")]),
                                     "disagree on its name")
    c["zip_bomb_ratio.npz"] = (zip_archive([deflated("a.npy", a_npy, size=10**9)]), "more than deflate can produce")
    c["encrypted.npz"] = (zip_archive([stored("a.npy", a_npy, flags=1)]), "is encrypted")
    c["bzip2_method.npz"] = (zip_archive([stored("a.npy", a_npy, method=12)]), "compression method 12")
    c["not_npy_member.npz"] = (zip_archive([stored("readme.txt", b"hello")]), "is not an .npy array")
    c["bad_member_magic.npz"] = (zip_archive([stored("w.npy", b"\x93NUMPX" + a_npy[6:])]), "w: not an .npy file")
    c["member_object_dtype.npz"] = (zip_archive([stored("obj.npy", npy(good_header(descr="|O"), bytes(48)))]),
                                    "obj: unsupported dtype '|O'")
    c["stored_sizes_disagree.npz"] = (zip_archive([stored("a.npy", a_npy, size=len(a_npy) + 4)]),
                                      "stored but its sizes disagree")
    return c


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    expected = []
    for name, case in cases().items():
        content, fragment = case[0], case[1]
        needs_data = len(case) > 2 and case[2]
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(content)
        expected.append({"file": name, "error": fragment, "needs_data": needs_data})
    with open(os.path.join(outdir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(f"wrote {len(expected)} bad inputs to {outdir}")


if __name__ == "__main__":
    main(sys.argv[1])
