// concat: two or more inputs joined along one per-sample axis. "dim" counts per-sample axes
// (the batch excluded; negative from the end), so (T, F) samples join features with
// "dim": 1 and torch (C, H, W) images join channels with "dim": 0. Keras's "axis" counts the
// batch, as Keras does (its default -1 is the last axis).
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {
namespace {

void parse_concat(option_reader& r, layer_spec& l) {
    const auto dim = r.integer({"dim"});
    const auto axis = r.integer({"axis"});
    if (dim && axis) throw error("takes 'dim' (per-sample) or 'axis' (Keras's, counting the batch), not both");
    if (axis && *axis == 0) throw error("'axis' 0 is the batch; concat joins samples' axes (Keras counts the batch as 0)");
    if (dim) {
        l.dim = *dim;
    } else if (axis) {
        l.dim = *axis < 0 ? *axis : *axis - 1;
    } else if (r.keras()) {
        l.dim = -1;  // Keras's default
    } else {
        throw error("needs 'dim': the per-sample axis to join along (batch excluded; -1 for the last)");
    }
}

bool bind_concat(binding_context& ctx, bound_layer& b) {
    const auto rank = static_cast<std::int64_t>(b.in[0].size());
    const std::int64_t dim = *b.spec.dim;
    if (dim < -rank || dim >= rank) {
        return ctx.problem(fmt::format("'dim' {} is not an axis of its {} inputs (-{} to {})", dim, format_shape(b.in[0]),
                                       rank, rank - 1));
    }
    b.axis = dim < 0 ? dim + rank : dim;
    const auto a = static_cast<std::size_t>(b.axis);
    b.out = b.in[0];
    for (std::size_t i = 1; i < b.in.size(); ++i) {
        bool fits = b.in[i].size() == b.in[0].size();
        for (std::size_t d = 0; fits && d < b.in[0].size(); ++d) fits = d == a || b.in[i][d] == b.in[0][d];
        if (!fits) {
            return ctx.problem(fmt::format("its inputs differ in shape other than along dim {}: {} gives {}, {} gives {}",
                                           b.axis, ctx.source_name(b.inputs[0]), format_shape(b.in[0]),
                                           ctx.source_name(b.inputs[i]), format_shape(b.in[i])));
        }
        b.out[a] += b.in[i][a];
    }
    return fits_in_memory(ctx, b.out);
}

void lower_concat(lowering_context& ctx, const node& n) {
    std::vector<dnnl::memory> srcs;
    std::vector<dnnl::memory::desc> descs;
    for (std::size_t i = 0; i < n.inputs.size(); ++i) {
        srcs.push_back(ctx.plain(n, i));
        descs.push_back(srcs.back().get_desc());
    }
    const dnnl::memory::desc dst_md = ctx.plain_desc(n.out);
    const dnnl::concat::primitive_desc pd(dst_md, static_cast<int>(n.layer->axis) + 1, descs, ctx.engine(),
                                          ctx.plain_attr());
    dnnl::memory dst = ctx.new_memory(dst_md);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DST, dst}};
    for (std::size_t i = 0; i < srcs.size(); ++i) args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = srcs[i];
    ctx.add(dnnl::concat(pd), pd.scratchpad_desc(), std::move(args));
    ctx.output(n, dst, false);
}

}  // namespace

extern const layer_descriptor concat_layer{
    .kind = layer_kind::concat, .name = "concat", .alias = "concatenate", .has_weights = false, .min_inputs = 2,
    .max_inputs = 64, .parse = parse_concat, .bind = bind_concat, .lower = lower_concat, .flops = zero_flops};

}  // namespace npyflow
