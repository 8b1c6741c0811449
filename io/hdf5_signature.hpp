#pragma once
// Recognising an HDF5 file by its first bytes, without the HDF5 library.
//
// The superblock starts with the signature \x89HDF\r\n\x1a\n at offset 0 or, after a user
// block, at 512, 1024, 2048, ... (powers of two); HDF5 itself searches those offsets.

#include <cstddef>
#include <optional>
#include <span>

namespace npyflow {

// Where the signature is in `first_bytes` (a file's start), if it is at one of the
// offsets HDF5 searches; nullopt if not within these bytes.
std::optional<std::size_t> find_hdf5_signature(std::span<const std::byte> first_bytes);

// Whether `first_bytes` start an HDF5 file: find_hdf5_signature found one.
inline bool looks_like_hdf5(std::span<const std::byte> first_bytes) {
    return find_hdf5_signature(first_bytes).has_value();
}

}  // namespace npyflow
