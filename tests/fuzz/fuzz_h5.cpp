// libFuzzer target: an HDF5 file image through the Keras weights reader (HDF5's own parsing
// of the superblock, object headers, B-trees and heaps, then npyflow's checks of Keras's
// attributes and of each dataset's type, shape and size).
#include <cstddef>
#include <cstdint>
#include <span>

#include "io/error.hpp"
#include "io/keras_h5.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto bytes = std::as_bytes(std::span(data, size));
    try {
        (void)npyflow::read_keras_h5(bytes, "fuzz.h5");
    } catch (const npyflow::error&) {
    }
    return 0;
}
