#pragma once
// What conv and pooling layers share: their window options, and the output size of a window
// sliding over each spatial axis (floor mode, as PyTorch's default).

#include "npyflow/nn/layer_descriptor.hpp"

namespace npyflow {

// kernel_size (pool_size), stride (strides), padding (an int, a list, "same" or "valid").
// rank: the spatial axes. Pooling needs a kernel_size; a conv can infer it from its weights.
void parse_window(option_reader& r, layer_spec& l, std::size_t rank, bool pooling);

// Resolves layer.stride, dilation and padding for layer.kernel over `spatial`, and returns
// the output's spatial sizes, or nothing (and a problem) when the window does not fit.
std::optional<std::vector<std::uint64_t>> slide_window(binding_context& ctx, bound_layer& layer,
                                                       const std::vector<std::uint64_t>& spatial);

// The input's channels and spatial sizes, when it has rank + 1 dims; otherwise a problem
// naming the layout's expected order.
bool check_spatial_input(binding_context& ctx, const bound_layer& layer, std::size_t rank);

}  // namespace npyflow
