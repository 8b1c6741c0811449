#pragma once
// The model spec: a JSON description of the network whose weights come from .npy/.npz.
//
//   {"layout": "torch", "input": {"shape": [1, 28, 28]}, "preprocess": [...],
//    "layers": [{"type": "conv2d", "name": "0", "out_channels": 32, "kernel_size": 3}, ...]}
//
// The layers form a graph: each takes the previous layer's output, or the layers its
// "inputs" name ("input" is the model's input). docs/model-spec.md describes every field.
// Parsing checks the spec on its own (types, option values, the graph's names and order);
// sizes are checked against the weights when they are bound.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace npyflow {

// Which framework's names, weight layouts and data layout the spec follows.
enum class weight_layout { torch, keras };

// Every kind has a descriptor in nn/layers/ (nn/layer_table.cpp lists them, in this order).
enum class layer_kind {
    linear, conv1d, conv2d, batchnorm, layernorm, embedding, lstm, gru,
    relu, leaky_relu, sigmoid, tanh, gelu, softmax, log_softmax,
    maxpool1d, maxpool2d, avgpool1d, avgpool2d, global_avgpool1d, global_avgpool2d,
    flatten, dropout, add, multiply, concat, transformer_encoder,
    count_  // not a kind: the number of kinds
};

std::string_view name(layer_kind k);

// The name "inputs" uses for the model's input.
inline constexpr const char* model_input_name = "input";

// Where a role's array comes from ("params"), and what is done to it before the layer reads
// it, for files the layout cannot describe: in this order, the index-th slice along the
// first axis (layers stacked in one array), a window of the flattened array read as `shape`
// (a weight and its bias in one vector), an axis permutation (numpy's transpose).
struct param_ref {
    std::string array;
    std::optional<std::uint64_t> index;
    std::optional<std::uint64_t> offset;  // with shape; 0 when only shape is given
    std::vector<std::uint64_t> shape;
    std::vector<std::size_t> transpose;
    bool transforms() const { return index || offset || !shape.empty() || !transpose.empty(); }
};

struct layer_spec {
    layer_kind kind = layer_kind::relu;
    // The prefix of its arrays ("0" for torch "0.weight"), and what "inputs" names; optional
    // where the weights are bound by position or offset.
    std::string name;
    std::size_t index = 0;  // position in "layers", for messages
    // What it takes: layer names, or model_input_name; empty means the previous layer.
    std::vector<std::string> inputs;
    std::vector<int> sources;  // the same resolved: layer indices, -1 for the model's input

    // linear, conv, embedding, lstm, gru: out_features / units / out_channels / filters /
    // embedding_dim / hidden_size
    std::optional<std::uint64_t> out_features;
    // The input size the spec states (in_features, in_channels, input_size, d_model,
    // num_features), checked against the input the layer gets.
    std::optional<std::uint64_t> in_features;
    bool bias = true;
    // conv and pooling, one value per spatial axis (conv1d: 1, conv2d: 2)
    std::vector<std::uint64_t> kernel_size, stride, dilation, pad;  // kernel_size and stride: empty = inferred
    std::uint64_t groups = 1;
    enum class padding_mode { explicit_, same, valid } padding = padding_mode::explicit_;
    std::optional<bool> count_include_pad;  // avgpool: padding counts in the average (PyTorch) or not (Keras)
    std::optional<double> eps;              // batchnorm, layernorm
    double negative_slope = 0.01;           // leaky_relu
    std::optional<std::int64_t> dim;        // concat, softmax: a per-sample axis (negative: from the end)
    // embedding
    std::optional<std::uint64_t> num_embeddings;
    // layernorm: the trailing dims it normalizes; empty = the last
    std::vector<std::uint64_t> normalized_shape;
    bool elementwise_affine = true;
    // lstm, gru
    std::uint64_t num_layers = 1;
    bool bidirectional = false;
    bool return_sequences = true;
    // Without return_sequences, a bidirectional layer's last output: PyTorch's output[:, -1, :]
    // (both directions at step T-1), or Keras's Bidirectional (the forward direction at step
    // T-1, the backward one at step 0, where it has read the whole sequence).
    bool keras_last_output = false;
    bool reset_after = true;  // gru: PyTorch's and Keras 2's "linear before reset" form
    // transformer_encoder (and out_features: dim_feedforward)
    std::uint64_t heads = 0;
    bool norm_first = false;
    bool gelu = false;  // the feed-forward's activation: gelu, or relu
    // per-layer arrays: role ("weight", "bias", ...) -> the array in the weights
    std::map<std::string, param_ref> params;
    // The layout of this layer's arrays when it differs from the model's (names, kernel
    // layouts, gate orders; the data's layout stays the model's).
    std::optional<weight_layout> layout;

    std::string where() const;  // "layers[3] (conv2d \"features.0\")"
};

struct model_spec {
    weight_layout layout = weight_layout::torch;
    bool layout_stated = false;  // "layout" given: else torch, unless the weights' format says
    std::vector<std::uint64_t> input_shape;  // one sample, in the layout's order: (C, H, W) torch, (H, W, C) keras
    nlohmann::json preprocess = nlohmann::json::array();
    std::vector<layer_spec> layers;
    std::string strip_prefix;  // removed from array names before matching, e.g. "module."
};

// Throws npyflow::error naming the field (and the layer) that is wrong. `implied` is the
// layout the weights' format implies (a .pth is PyTorch's, a Keras .h5 Keras's), used when
// the spec states none; a spec stating the other one is refused.
model_spec parse_model_spec(const nlohmann::json& spec, std::optional<weight_layout> implied = std::nullopt);

std::string_view name(weight_layout layout);

}  // namespace npyflow
