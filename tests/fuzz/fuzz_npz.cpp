// libFuzzer target: a zip archive's bytes through the directory parser, member headers and
// member loading (inflate, size and CRC checks).
#include <cstddef>
#include <cstdint>
#include <span>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npz_archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto bytes = std::as_bytes(std::span(data, size));
    try {
        const npyflow::npz_archive archive(bytes, nullptr, "fuzz.npz");
        for (const auto& member : archive.members()) {
            try {
                (void)archive.read_header(member);
                (void)archive.load(member);
            } catch (const npyflow::error&) {
            }
        }
    } catch (const npyflow::error&) {
    }
    return 0;
}
