// libFuzzer target: an .npz archive as the weights of two fixed networks (the cnn_b test
// fixture in torch and keras layouts: conv2d with dilation and "same" padding, batchnorm,
// a 1x1 conv, linear): the binder's name matching, shape and layout checks, dtype
// conversion, NaN/Inf and variance checks, positional archives, and its hints.
#include <cstddef>
#include <cstdint>
#include <span>

#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "nn/model_spec.hpp"
#include "nn/param_binding.hpp"
#include "nn/weight_source.hpp"

namespace {

const char* const specs[] = {
    R"({"layout":"torch","input":{"shape":[4,9,9]},"layers":[{"type":"conv2d","name":"0","kernel_size":[3,2],
        "dilation":2,"padding":"same"},{"type":"sigmoid"},{"type":"batchnorm","name":"2"},{"type":"gelu"},
        {"type":"conv2d","name":"4"},{"type":"tanh"},{"type":"global_avgpool2d"},{"type":"flatten"},
        {"type":"dropout"},{"type":"linear","name":"9"}]})",
    R"({"layout":"keras","input":{"shape":[9,9,4]},"layers":[{"type":"conv2d","name":"0","kernel_size":[3,2],
        "dilation":2,"padding":"same","out_channels":6},{"type":"sigmoid"},{"type":"batchnorm","name":"2",
        "eps":1e-05},{"type":"gelu"},{"type":"conv2d","name":"4","out_channels":6,"kernel_size":[1,1]},
        {"type":"tanh"},{"type":"global_avgpool2d"},{"type":"flatten"},{"type":"dropout"},
        {"type":"linear","name":"9","out_features":4}]})",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const npyflow::model_spec torch = npyflow::parse_model_spec(nlohmann::json::parse(specs[0]));
    static const npyflow::model_spec keras = npyflow::parse_model_spec(nlohmann::json::parse(specs[1]));
    try {
        const npyflow::weight_source weights(std::as_bytes(std::span(data, size)), "fuzz.npz");
        for (const auto* spec : {&torch, &keras}) {
            for (const bool strict : {false, true}) {
                try {
                    (void)npyflow::bind_parameters(*spec, weights, strict);
                } catch (const npyflow::error&) {
                }
            }
        }
    } catch (const npyflow::error&) {
    }
    return 0;
}
