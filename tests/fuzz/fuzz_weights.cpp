// libFuzzer target: an .npz archive as the weights of fixed networks (the cnn_b test fixture
// in torch and keras layouts: conv2d with dilation and "same" padding, batchnorm, a 1x1 conv,
// linear; and graph fixtures: embedding and a stacked lstm, a keras gru, transformer
// encoders, a residual block, a gated sequence model): the binder's name matching, shape
// and layout checks, gate rearranging, dtype conversion, NaN/Inf and variance checks,
// positional archives, and its hints.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/param_binding.hpp"
#include "npyflow/nn/weight_source.hpp"

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
    R"({"layout":"torch","input":{"shape":[12]},"preprocess":[],"layers":[{"type":"embedding","name":"emb","num_embeddings":50,"embedding_dim":8},{"type":"lstm","name":"lstm","input_size":8,"hidden_size":16,"num_layers":2,"bidirectional":false,"return_sequences":false},{"type":"linear","name":"fc","out_features":4}]})",
    R"({"layout":"keras","input":{"shape":[9,4]},"preprocess":[],"layers":[{"type":"gru","name":"gru","input_size":4,"hidden_size":6,"return_sequences":false},{"type":"linear","name":"fc","out_features":3}]})",
    R"({"layout":"torch","input":{"shape":[6,16]},"preprocess":[],"layers":[{"type":"transformer_encoder","name":"enc1","d_model":16,"nhead":4,"dim_feedforward":32},{"type":"transformer_encoder","name":"enc2","nhead":4,"norm_first":true,"activation":"gelu","layer_norm_eps":1e-06},{"type":"linear","name":"fc"}]})",
    R"({"layout":"torch","input":{"shape":[3,8,8]},"preprocess":[],"layers":[{"type":"conv2d","name":"b1_conv1","out_channels":8,"kernel_size":3,"stride":2,"padding":1,"bias":false},{"type":"batchnorm","name":"b1_bn1","eps":1e-05},{"type":"relu"},{"type":"conv2d","name":"b1_conv2","out_channels":8,"kernel_size":3,"padding":1,"bias":false},{"type":"batchnorm","name":"b1_bn2","eps":1e-05},{"type":"conv2d","name":"b1_down_conv","inputs":["input"],"out_channels":8,"kernel_size":1,"stride":2,"bias":false},{"type":"batchnorm","name":"b1_down_bn","eps":1e-05},{"type":"add","inputs":["b1_bn2","b1_down_bn"]},{"type":"relu","name":"b1_out"},{"type":"conv2d","name":"b2_conv1","out_channels":8,"kernel_size":3,"padding":1,"bias":false},{"type":"batchnorm","name":"b2_bn1","eps":1e-05},{"type":"relu"},{"type":"conv2d","name":"b2_conv2","out_channels":8,"kernel_size":3,"padding":1,"bias":false},{"type":"batchnorm","name":"b2_bn2","eps":1e-05},{"type":"add","inputs":["b2_bn2","b1_out"]},{"type":"relu"},{"type":"global_avgpool2d"},{"type":"linear","name":"fc","out_features":5}]})",
    R"({"layout":"torch","input":{"shape":[7,5]},"preprocess":[],"layers":[{"type":"linear","name":"a","out_features":6},{"type":"linear","name":"b","inputs":["input"],"out_features":6},{"type":"sigmoid","name":"gate","inputs":["a"]},{"type":"tanh","name":"cand","inputs":["b"]},{"type":"multiply","inputs":["gate","cand"]},{"type":"leaky_relu","name":"act","negative_slope":0.2},{"type":"concat","inputs":["act","input"],"dim":1},{"type":"linear","name":"out","out_features":2}]})",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::vector<npyflow::model_spec> models = [] {
        std::vector<npyflow::model_spec> m;
        for (const char* s : specs) m.push_back(npyflow::parse_model_spec(nlohmann::json::parse(s)));
        return m;
    }();
    try {
        const npyflow::weight_source weights(std::as_bytes(std::span(data, size)), "fuzz.npz");
        for (const auto& spec : models) {
            for (const bool strict : {false, true}) {
                try {
                    (void)npyflow::bind_parameters(spec, weights, strict);
                } catch (const npyflow::error&) {
                }
            }
        }
    } catch (const npyflow::error&) {
    }
    return 0;
}
