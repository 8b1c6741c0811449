#pragma once
// The .npy preamble and header: a pure parser and formatter, no I/O.
//
// Layout: "\x93NUMPY", major, minor, header length (uint16 LE for v1, uint32 LE for v2/v3),
// then a Python dict literal with exactly the keys descr, fortran_order and shape.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "npyflow/io/dtype.hpp"

namespace npyflow {

inline constexpr std::size_t npy_max_header_length = 10000;  // numpy's own cap (_MAX_HEADER_SIZE)
inline constexpr std::size_t npy_max_ndim = 64;              // numpy's NPY_MAXDIMS
// The fixed part before the header text: magic, version, length (12 bytes covers v2/v3).
inline constexpr std::size_t npy_preamble_length = 12;
// Bytes of the file that always hold the whole preamble and header of a valid file.
inline constexpr std::size_t npy_max_prefix_length = npy_preamble_length + npy_max_header_length;

struct npy_header {
    dtype type = dtype::float32;
    byte_order order = byte_order::little;
    bool fortran_order = false;
    std::vector<std::uint64_t> shape;  // empty for a 0-d array
    int version = 1;                   // major format version: 1, 2 or 3
    std::uint64_t data_offset = 0;     // where the data starts, from the start of the file

    std::uint64_t element_count() const;  // 1 for 0-d, 0 for empty arrays
    std::uint64_t data_bytes() const;     // element_count() * itemsize, checked at parse time
    // Whether the data is in C order: C-ordered, or Fortran-ordered with at most one
    // dimension above 1 (where both orders are the same).
    bool is_c_contiguous() const;
    // Whether the data is laid out as C order and little endian (or one-byte), so it
    // can be used in place without conversion.
    bool is_native_layout() const;
};

// Parses the preamble and header at the start of an .npy file or member.
// `prefix` is the file's first bytes (at least min(total_size, npy_max_prefix_length)
// of them); `total_size` is the size of the whole file, used to reject a header
// that runs past its end. Throws npyflow::error saying what is wrong.
// Checks the shape as check_numpy_size does; does not check the data length.
npy_header parse_npy_header(std::span<const std::byte> prefix, std::uint64_t total_size);

// The header of an .npy whose dtype is object ('|O'): np.save of Python objects, whose data
// is a pickle. Only weights are read this way (io/pickled_npy.hpp); parse_npy_header refuses them.
struct npy_object_header {
    bool fortran_order = false;
    std::vector<std::uint64_t> shape;
    int version = 1;
    std::uint64_t data_offset = 0;  // where the pickle starts
};
npy_object_header parse_object_npy_header(std::span<const std::byte> prefix, std::uint64_t total_size);

// Whether `prefix` (a file's first bytes; npy_max_prefix_length of them suffice) starts an
// object .npy. Never throws.
bool is_object_npy(std::span<const std::byte> prefix);

// Throws unless numpy can hold the array: itemsize times every non-zero dimension fits in
// 63 bits (numpy refuses "(0, 2**62) float64" although it holds no bytes).
void check_numpy_size(dtype type, const std::vector<std::uint64_t>& shape);

// How many bytes from the start of a file hold its preamble and header, judged from its
// first npy_preamble_length bytes (fewer if the file is shorter); capped at
// npy_max_prefix_length. Lets a streaming reader fetch exactly the header and no data;
// never throws, since parse_npy_header reports whatever is wrong.
std::size_t npy_prefix_length(std::span<const std::byte> preamble);

// The preamble and header numpy would write for this array: version 1, dict keys in
// numpy's order, padded with spaces and '\n' to a multiple of 64 bytes. Throws for a shape
// numpy could not read (check_numpy_size).
std::string format_npy_header(dtype type, const std::vector<std::uint64_t>& shape,
                              bool fortran_order = false, byte_order order = byte_order::little);

// "(37, 29)", "(3,)", "()": a shape as numpy prints it.
std::string format_shape(const std::vector<std::uint64_t>& shape);

}  // namespace npyflow
