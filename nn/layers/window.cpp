#include "npyflow/nn/layers/window.hpp"

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {

void parse_window(option_reader& r, layer_spec& l, std::size_t rank, bool pooling) {
    l.kernel_size = r.window({"kernel_size", "pool_size"}, rank, false);
    l.stride = r.window({"stride", "strides"}, rank, false);
    l.dilation = std::vector<std::uint64_t>(rank, 1);
    l.pad = std::vector<std::uint64_t>(rank, 0);
    if (!pooling) {
        if (auto d = r.window({"dilation", "dilation_rate"}, rank, false); !d.empty()) l.dilation = d;
    }
    if (const nlohmann::json* v = r.take({"padding"})) {
        if (v->is_string() && (*v == "same" || *v == "valid")) {
            l.padding = *v == "same" ? layer_spec::padding_mode::same : layer_spec::padding_mode::valid;
        } else if (v->is_string()) {
            throw error(fmt::format("'padding' must be an integer, a list, \"same\" or \"valid\", got {}", v->dump()));
        } else {
            l.pad = r.window({"padding"}, rank, true);
        }
    }
    if (pooling && l.kernel_size.empty()) throw error("needs 'kernel_size'");
}

bool check_spatial_input(binding_context& ctx, const bound_layer& layer, std::size_t rank) {
    if (layer.in[0].size() == rank + 1) return true;
    const bool first = ctx.layout() == weight_layout::torch;
    const char* order = rank == 1 ? (first ? "(C, L)" : "(L, C)") : (first ? "(C, H, W)" : "(H, W, C)");
    return ctx.problem(fmt::format("needs {} input, got {}", order, format_shape(layer.in[0])));
}

std::optional<std::vector<std::uint64_t>> slide_window(binding_context& ctx, bound_layer& b,
                                                       const std::vector<std::uint64_t>& spatial) {
    const auto& s = b.spec;
    const std::size_t rank = spatial.size();
    if (b.stride.empty()) b.stride = s.stride.empty() ? std::vector<std::uint64_t>(rank, 1) : s.stride;
    b.dilation = s.dilation;
    b.pad_begin = b.pad_end = std::vector<std::uint64_t>(rank, 0);
    std::vector<std::uint64_t> out(rank);
    for (std::size_t a = 0; a < rank; ++a) {
        const std::uint64_t extent = b.dilation[a] * (b.kernel[a] - 1) + 1;
        if (s.padding == layer_spec::padding_mode::same) {  // as Keras and PyTorch split it
            const std::uint64_t want = (spatial[a] + b.stride[a] - 1) / b.stride[a];
            const std::uint64_t needed = (want - 1) * b.stride[a] + extent;
            const std::uint64_t total = needed > spatial[a] ? needed - spatial[a] : 0;
            b.pad_begin[a] = total / 2;
            b.pad_end[a] = total - total / 2;
        } else if (s.padding == layer_spec::padding_mode::explicit_) {
            b.pad_begin[a] = b.pad_end[a] = s.pad[a];
        }
        const std::uint64_t padded = spatial[a] + b.pad_begin[a] + b.pad_end[a];
        if (padded < extent) {
            ctx.problem(b.dilation[a] > 1
                            ? fmt::format("window {} with dilation {} spans {} and does not fit input {}",
                                          format_shape(b.kernel), format_shape(b.dilation), extent, format_shape(b.in[0]))
                            : fmt::format("window {} does not fit input {}", format_shape(b.kernel), format_shape(b.in[0])));
            return std::nullopt;
        }
        out[a] = (padded - extent) / b.stride[a] + 1;
        // oneDNN wants the padding after that makes the last window end exactly at the edge.
        const std::uint64_t end = (out[a] - 1) * b.stride[a] + extent;
        b.pad_end[a] = end > spatial[a] + b.pad_begin[a] ? end - spatial[a] - b.pad_begin[a] : 0;
    }
    return out;
}

}  // namespace npyflow
