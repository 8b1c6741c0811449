// libFuzzer target: an .npy file's bytes through the header parser, row conversion and stats.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "npyflow/io/array_stats.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_array.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto bytes = std::as_bytes(std::span(data, size));
    try {
        const auto a = npyflow::parse_npy(bytes, nullptr, "fuzz.npy");
        // Data is checked to fit in the input, so this allocation is bounded by its size.
        std::vector<std::byte> rows(a.rows() * a.row_bytes());
        a.copy_rows(0, a.rows(), rows);
        npyflow::array_stats_accumulator stats(a.header().type, a.header().order);
        stats.add(a.raw_data());
        (void)stats.result();
    } catch (const npyflow::error&) {
        // Rejecting bad input with a message is the expected outcome.
    }
    return 0;
}
