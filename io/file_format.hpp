#pragma once
// What a file is, from its first bytes: so that a file given in the wrong place (a PyTorch
// checkpoint as a dataset, a Keras config as weights) is named in the error, rather than
// reported as a malformed .npy or JSON.

#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>

namespace npyflow {

enum class file_format { npy, zip, hdf5, pickle, tar, json, unknown };

// Enough of a file's start to tell: HDF5's signature may sit at 512 and tar's at 257.
inline constexpr std::size_t format_prefix_bytes = 1032;

file_format sniff_format(std::span<const std::byte> prefix);
// The file's first format_prefix_bytes; unknown for a directory or an unreadable file.
file_format sniff_file(const std::filesystem::path& path);

// "a zip archive (an .npz, or a PyTorch checkpoint saved by torch.save)", for messages.
std::string_view describe(file_format format);

}  // namespace npyflow
