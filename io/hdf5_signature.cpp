#include "npyflow/io/hdf5_signature.hpp"

#include <array>
#include <cstring>

namespace npyflow {

std::optional<std::size_t> find_hdf5_signature(std::span<const std::byte> first_bytes) {
    static constexpr std::array<unsigned char, 8> signature{0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    for (std::size_t offset = 0; offset < first_bytes.size() && first_bytes.size() - offset >= signature.size();
         offset = offset == 0 ? 512 : offset * 2) {
        if (std::memcmp(first_bytes.data() + offset, signature.data(), signature.size()) == 0) return offset;
    }
    return std::nullopt;
}

}  // namespace npyflow
