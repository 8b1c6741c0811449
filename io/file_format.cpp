#include "npyflow/io/file_format.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

namespace npyflow {
namespace {

bool starts_with(std::span<const std::byte> bytes, std::size_t at, std::string_view text) {
    return bytes.size() >= at + text.size() && std::memcmp(bytes.data() + at, text.data(), text.size()) == 0;
}

}  // namespace

file_format sniff_format(std::span<const std::byte> prefix) {
    if (starts_with(prefix, 0, "\x93NUMPY")) return file_format::npy;
    if (starts_with(prefix, 0, "PK\x03\x04") || starts_with(prefix, 0, "PK\x05\x06")) return file_format::zip;
    // HDF5's superblock is at 0, or after a user block of 512, 1024, ... bytes.
    for (std::size_t at : {0, 512, 1024}) {
        if (starts_with(prefix, at, "\x89HDF\r\n\x1a\n")) return file_format::hdf5;
    }
    if (starts_with(prefix, 257, "ustar")) return file_format::tar;
    // Pickle protocol 2 and later begin with PROTO (0x80) and the protocol number.
    if (prefix.size() >= 2 && prefix[0] == std::byte{0x80} && std::to_integer<int>(prefix[1]) >= 2 &&
        std::to_integer<int>(prefix[1]) <= 5) {
        return file_format::pickle;
    }
    const auto first = std::find_if(prefix.begin(), prefix.end(), [](std::byte b) {
        const char c = static_cast<char>(b);
        return c != ' ' && c != '\t' && c != '\n' && c != '\r';
    });
    if (first != prefix.end() && (static_cast<char>(*first) == '{' || static_cast<char>(*first) == '[')) {
        return file_format::json;
    }
    return file_format::unknown;
}

file_format sniff_file(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return file_format::unknown;
    std::ifstream in(path, std::ios::binary);
    std::vector<std::byte> prefix(format_prefix_bytes);
    in.read(reinterpret_cast<char*>(prefix.data()), static_cast<std::streamsize>(prefix.size()));
    prefix.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    return sniff_format(prefix);
}

std::string_view describe(file_format format) {
    switch (format) {
        case file_format::npy: return "an .npy array";
        case file_format::zip: return "a zip archive (an .npz, or a PyTorch checkpoint saved by torch.save)";
        case file_format::hdf5: return "an HDF5 file (Keras weights or model, saved as .h5)";
        case file_format::pickle: return "a Python pickle";
        case file_format::tar: return "a tar archive (an old PyTorch checkpoint?)";
        case file_format::json: return "a JSON file";
        case file_format::unknown: break;
    }
    return "a file of unknown format";
}

}  // namespace npyflow
