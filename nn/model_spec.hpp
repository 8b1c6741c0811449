#pragma once
// The model spec: a JSON description of the network whose weights come from .npy/.npz.
//
//   {"layout": "torch", "input": {"shape": [1, 28, 28]}, "preprocess": [...],
//    "layers": [{"type": "conv2d", "name": "0", "out_channels": 32, "kernel_size": 3}, ...]}
//
// docs/model-spec.md describes every field. Parsing checks the spec on its own (types,
// option values); sizes are checked against the weights when they are bound.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace npyflow {

// Which framework's names, weight layouts and data layout the spec follows.
enum class weight_layout { torch, keras };

enum class layer_kind {
    linear, conv2d, batchnorm, relu, leaky_relu, sigmoid, tanh, gelu, softmax, log_softmax,
    maxpool2d, avgpool2d, global_avgpool2d, flatten, dropout
};

std::string_view name(layer_kind k);

struct layer_spec {
    layer_kind kind = layer_kind::relu;
    std::string name;   // the prefix of its arrays: "0" for torch "0.weight", "dense" for keras
    std::size_t index = 0;  // position in "layers", for messages
    // linear and conv2d
    std::optional<std::uint64_t> out_features;  // out_features / units / out_channels / filters
    bool bias = true;
    // conv2d and pooling
    std::optional<std::array<std::uint64_t, 2>> kernel_size;
    std::optional<std::array<std::uint64_t, 2>> stride;  // pooling: defaults to kernel_size
    std::array<std::uint64_t, 2> dilation{1, 1};
    std::uint64_t groups = 1;
    enum class padding_mode { explicit_, same, valid } padding = padding_mode::explicit_;
    std::array<std::uint64_t, 2> pad{0, 0};
    // avgpool2d: whether padding counts in the average (PyTorch's default) or not (Keras's)
    std::optional<bool> count_include_pad;
    // batchnorm
    std::optional<double> eps;
    // leaky_relu
    double negative_slope = 0.01;
    // per-layer array names: role ("weight", "bias", ...) -> array name in the weights
    std::map<std::string, std::string> params;

    std::string where() const;  // "layers[3] (conv2d \"features.0\")"
};

struct model_spec {
    weight_layout layout = weight_layout::torch;
    std::vector<std::uint64_t> input_shape;  // one sample: (C, H, W) for torch, (H, W, C) for keras, or (F)
    nlohmann::json preprocess = nlohmann::json::array();
    std::vector<layer_spec> layers;
    std::string strip_prefix;  // removed from array names before matching, e.g. "module."
};

// Throws npyflow::error naming the field (and the layer) that is wrong.
model_spec parse_model_spec(const nlohmann::json& spec);

}  // namespace npyflow
