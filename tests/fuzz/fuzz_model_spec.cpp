// libFuzzer target: text as a model spec: JSON parsing, the spec parser (layers, options,
// aliases, shapes), and its "preprocess" ops planned against a uint8 image input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/model_spec.hpp"
#include "npyflow/ops/op_registry.hpp"
#include "npyflow/ops/preprocess_plan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) return 0;
    try {
        (void)npyflow::parse_model_spec(json);
    } catch (const npyflow::error&) {
    }
    if (json.is_object() && json.contains("preprocess")) {
        try {
            const npyflow::sample_desc image{npyflow::dtype::uint8, {28, 28}};
            (void)npyflow::preprocess_plan(npyflow::parse_ops(json["preprocess"]), image);
        } catch (const npyflow::error&) {
        }
    }
    return 0;
}
