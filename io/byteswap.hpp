#pragma once
// Reverses the bytes of every element in a buffer: how big-endian data becomes native.

#include <algorithm>
#include <cstddef>
#include <span>

namespace npyflow {

inline void byteswap_elements(std::span<std::byte> data, std::size_t itemsize) {
    if (itemsize <= 1) return;
    for (std::size_t i = 0; i + itemsize <= data.size(); i += itemsize) {
        std::reverse(data.begin() + static_cast<std::ptrdiff_t>(i),
                     data.begin() + static_cast<std::ptrdiff_t>(i + itemsize));
    }
}

}  // namespace npyflow
