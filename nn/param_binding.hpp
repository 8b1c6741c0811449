#pragma once
// Binds a model spec's layers to arrays from a weight source: finds each array by name (or
// by position), checks dtype, shape, finite values and variances against what the layer needs
// given its input, infers the sizes the spec leaves out, and says what to do when something
// does not fit ("looks like Keras (in,out); set \"layout\": \"keras\"").

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nn/model_spec.hpp"
#include "nn/weight_source.hpp"

namespace npyflow {

// One sample's activation, in PyTorch's logical order: (C, H, W), or F features (c = F, h = w = 1).
struct activation_shape {
    bool spatial = false;
    std::uint64_t c = 0, h = 1, w = 1;
    std::uint64_t features() const { return c * h * w; }
    std::string to_string() const;
};

struct bound_tensor {
    std::vector<std::uint64_t> shape;  // as stored, in the spec's framework layout
    std::span<const float> values;     // float32, copied from the file at binding
    std::shared_ptr<const void> owner;
    std::string source;                // the array's name, for messages
};

struct bound_layer {
    const layer_spec* spec = nullptr;
    activation_shape in, out;
    // conv2d and pooling, resolved: kernel, stride, padding before and after, per (h, w)
    std::array<std::uint64_t, 2> kernel{1, 1}, stride{1, 1}, pad_begin{0, 0}, pad_end{0, 0};
    double eps = 0;
    // Canonical roles: "weight", "bias" (conv, linear, batchnorm's gamma and beta),
    // "mean", "var" (batchnorm's running statistics).
    std::map<std::string, bound_tensor> params;
};

struct bound_model {
    weight_layout layout = weight_layout::torch;
    activation_shape input;
    std::vector<bound_layer> layers;
    std::vector<std::string> warnings;  // unused arrays, without --strict
};

// Throws one npyflow::error listing every problem found, one per line.
bound_model bind_parameters(const model_spec& spec, const weight_source& weights, bool strict);

}  // namespace npyflow
