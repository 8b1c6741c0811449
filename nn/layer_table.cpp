#include <array>
#include <limits>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_descriptor.hpp"

namespace npyflow {

// Defined in nn/layers/.
extern const layer_descriptor linear_layer, conv1d_layer, conv2d_layer, batchnorm_layer, layernorm_layer,
    embedding_layer, lstm_layer, gru_layer, relu_layer, leaky_relu_layer, sigmoid_layer, tanh_layer, gelu_layer,
    softmax_layer, log_softmax_layer, maxpool1d_layer, maxpool2d_layer, avgpool1d_layer, avgpool2d_layer,
    global_avgpool1d_layer, global_avgpool2d_layer, flatten_layer, dropout_layer, add_layer, multiply_layer,
    concat_layer, transformer_encoder_layer;

namespace {

// In layer_kind order: one entry per kind (checked below), each at its kind's place (checked
// by descriptor(), and by the test that walks the table).
constexpr std::array<const layer_descriptor*, static_cast<std::size_t>(layer_kind::count_)> table{
    &linear_layer,       &conv1d_layer,      &conv2d_layer,          &batchnorm_layer,       &layernorm_layer,
    &embedding_layer,    &lstm_layer,        &gru_layer,             &relu_layer,            &leaky_relu_layer,
    &sigmoid_layer,      &tanh_layer,        &gelu_layer,            &softmax_layer,         &log_softmax_layer,
    &maxpool1d_layer,    &maxpool2d_layer,   &avgpool1d_layer,       &avgpool2d_layer,       &global_avgpool1d_layer,
    &global_avgpool2d_layer, &flatten_layer, &dropout_layer,         &add_layer,             &multiply_layer,
    &concat_layer,       &transformer_encoder_layer,
};

constexpr bool every_entry_set() {
    for (const auto* d : table) {
        if (d == nullptr) return false;
    }
    return true;
}
// A kind added to layer_kind without its descriptor here leaves an entry empty.
static_assert(every_entry_set(), "every layer_kind needs its descriptor in the table");

}  // namespace

std::span<const layer_descriptor* const> layer_table() { return table; }

const layer_descriptor& descriptor(layer_kind kind) {
    const auto* d = table.at(static_cast<std::size_t>(kind));
    if (d->kind != kind) throw error(fmt::format("internal: the layer table lists {} where kind {} belongs", d->name,
                                                 static_cast<int>(kind)));
    return *d;
}

std::uint64_t element_count(const std::vector<std::uint64_t>& shape) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

std::uint64_t channels_of(const std::vector<std::uint64_t>& shape, weight_layout layout) {
    return layout == weight_layout::torch ? shape.front() : shape.back();
}

std::vector<std::uint64_t> spatial_of(const std::vector<std::uint64_t>& shape, weight_layout layout) {
    return layout == weight_layout::torch ? std::vector<std::uint64_t>(shape.begin() + 1, shape.end())
                                          : std::vector<std::uint64_t>(shape.begin(), shape.end() - 1);
}

std::vector<std::uint64_t> with_channels(std::uint64_t channels, const std::vector<std::uint64_t>& spatial,
                                         weight_layout layout) {
    std::vector<std::uint64_t> shape = spatial;
    if (layout == weight_layout::torch) {
        shape.insert(shape.begin(), channels);
    } else {
        shape.push_back(channels);
    }
    return shape;
}

double zero_flops(const bound_layer&) { return 0; }

void no_options(option_reader&, layer_spec&) {}

bool same_shape(binding_context&, bound_layer& layer) {
    layer.out = layer.in[0];
    return true;
}

std::uint64_t saturating_product(std::initializer_list<std::uint64_t> sizes) {
    std::uint64_t n = 1;
    for (auto d : sizes) {
        if (__builtin_mul_overflow(n, d, &n)) return std::numeric_limits<std::uint64_t>::max();
    }
    return n;
}

bool fits_in_memory(binding_context& ctx, const std::vector<std::uint64_t>& shape) {
    std::uint64_t values = 1;
    for (auto d : shape) {
        if (__builtin_mul_overflow(values, d, &values) || values > (std::uint64_t{1} << 40)) {
            return ctx.problem(fmt::format("its output, {} a row, is too large to hold in memory", format_shape(shape)));
        }
    }
    return true;
}

void keep_weight_and_bias(binding_context& ctx, bound_layer& layer, bound_tensor weight,
                          const std::vector<std::uint64_t>& shape, std::uint64_t out) {
    weight.shape = shape;
    layer.params["weight"] = std::move(weight);
    if (!layer.spec.bias) return;
    if (auto bias = ctx.fetch("bias", "bias", out); bias && ctx.check_shape(*bias, {out}, "(out,)")) {
        bias->shape = {out};
        layer.params["bias"] = *bias;
    }
}

bool refuse_if_ambiguous(binding_context& ctx, const bound_tensor& kernel, bool fits_both, const char* torch_form,
                         const char* keras_form) {
    if (!ctx.layout_unknown()) return false;
    if (ctx.flat_weights()) {
        ctx.problem(fmt::format("a flat weight vector does not say whether '{}' is PyTorch's {} or Keras's {}; set "
                                "\"layout\": \"torch\" or \"keras\" in the spec",
                                kernel.source, torch_form, keras_form));
        return true;
    }
    if (!fits_both) return false;
    ctx.problem(fmt::format("array '{}' has shape {}, which fits both PyTorch's {} and Keras's {}, and positional "
                            "weights carry no names to tell; set \"layout\": \"torch\" or \"keras\" in the spec "
                            "(or in this layer)",
                            kernel.source, format_shape(kernel.shape), torch_form, keras_form));
    return true;
}

bool check_stated_input(binding_context& ctx, const bound_layer& layer, std::uint64_t actual, const char* key) {
    if (!layer.spec.in_features || *layer.spec.in_features == actual) return true;
    return ctx.problem(fmt::format("'{}' is {}, but its input {} gives {}", key, *layer.spec.in_features,
                                   format_shape(layer.in[0]), actual));
}

}  // namespace npyflow
