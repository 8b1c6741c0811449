// libFuzzer target: an object .npy's bytes (np.save of a list or dict of arrays) through the
// restricted unpickler and the naming rules, with and without a --weights-key.
#include <cstddef>
#include <cstdint>
#include <span>

#include "npyflow/io/error.hpp"
#include "npyflow/io/pickled_npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto bytes = std::as_bytes(std::span(data, size));
    for (const auto* key : {"", "dense/kernel", "0"}) {
        try {
            for (const auto& a : npyflow::read_pickled_npy(bytes, key, "fuzz.npy")) (void)a.array.raw_data();
        } catch (const npyflow::error&) {
        }
    }
    return 0;
}
