#pragma once
// Binds a model spec's layers to arrays from a weight source: resolves the graph ("inputs"),
// finds each array by name (or by position), checks dtype, shape, finite values and
// variances against what the layer needs given its inputs, rearranges arrays the way oneDNN
// takes them (gate orders, transposes), infers the sizes the spec leaves out, and says what
// to do when something does not fit ("looks like Keras (in,out); set \"layout\": \"keras\"").

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/weight_source.hpp"

namespace npyflow {

// One sample's shape, in the spec's layout order: (C, H, W) torch, (H, W, C) keras, (T, F), (F).
using tensor_shape = std::vector<std::uint64_t>;

struct bound_tensor {
    std::vector<std::uint64_t> shape;  // as the layer's lowering takes it
    std::span<const float> values;     // float32, copied from the file at binding
    std::shared_ptr<const void> owner;
    std::string source;                // the array's name, for messages
};

// Float32 values of a new array of its own.
bound_tensor make_tensor(std::vector<std::uint64_t> shape, std::vector<float> values, std::string source);

// An array as a layer read it, for --dry-run's summary: its role, where it came from (with
// any "params" transform: "W[1]", "v[0:1280] as (128, 10)"), its shape there and dtype.
struct array_read {
    std::string role, source;
    std::vector<std::uint64_t> shape;
    std::string dtype;
};

struct bound_layer {
    layer_spec spec;                 // a copy: the bound model owns everything it refers to
    weight_layout layout = weight_layout::torch;  // of its arrays (the layer's own, or the model's)
    std::vector<array_read> reads;
    std::vector<int> inputs;         // layer indices; -1 is the model's input
    std::vector<tensor_shape> in;    // their shapes
    tensor_shape out;
    // conv and pooling, resolved per spatial axis: kernel, stride, dilation, padding before and after
    std::vector<std::uint64_t> kernel, stride, dilation, pad_begin, pad_end;
    double eps = 0;
    std::int64_t axis = 0;           // concat, softmax: the per-sample axis, resolved
    // Arrays by role, as the lowering takes them (roles are documented by each descriptor).
    std::map<std::string, bound_tensor> params;
};

struct bound_model {
    weight_layout layout = weight_layout::torch;
    tensor_shape input;
    std::vector<bound_layer> layers;  // the last one's output is the model's
    std::vector<std::string> warnings;  // unused arrays, without --strict
};

// Throws one npyflow::error listing every problem found, one per line.
bound_model bind_parameters(const model_spec& spec, const weight_source& weights, bool strict);

}  // namespace npyflow
