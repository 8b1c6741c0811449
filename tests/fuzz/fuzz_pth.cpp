// libFuzzer target: a PyTorch checkpoint's bytes (a torch.save zip, or a plain pickle) through the
// zip directory, the restricted unpickler, the strided tensor copies and the naming rules.
#include <cstddef>
#include <cstdint>
#include <span>

#include "npyflow/io/error.hpp"
#include "npyflow/io/torch_checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto bytes = std::as_bytes(std::span(data, size));
    for (const auto* key : {"", "model"}) {
        try {
            for (const auto& a : npyflow::read_torch_checkpoint(bytes, key, "fuzz.pth")) (void)a.array.raw_data();
        } catch (const npyflow::error&) {
        }
    }
    return 0;
}
