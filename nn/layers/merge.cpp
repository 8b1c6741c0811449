// add and multiply: the elementwise sum or product of two or more inputs of one shape (a
// residual connection, a gate).
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {
namespace {

bool bind_merge(binding_context& ctx, bound_layer& b) {
    for (std::size_t i = 1; i < b.in.size(); ++i) {
        if (b.in[i] != b.in[0]) {
            return ctx.problem(fmt::format("its inputs differ in shape: {} gives {}, {} gives {}",
                                           ctx.source_name(b.inputs[0]), format_shape(b.in[0]),
                                           ctx.source_name(b.inputs[i]), format_shape(b.in[i])));
        }
    }
    b.out = b.in[0];
    return true;
}

// In the channels view when every input is in it (conv outputs: no reorder back to plain),
// otherwise in the plain view; every input in the first one's format.
void lower_merge(lowering_context& ctx, const node& n) {
    bool channels = true;
    for (std::size_t i = 0; i < n.inputs.size(); ++i) channels = channels && ctx.input(n, i).channels;
    auto get = [&](std::size_t i) { return channels ? ctx.channels(n, i) : ctx.plain(n, i); };
    const auto alg = n.layer->spec.kind == layer_kind::add ? dnnl::algorithm::binary_add : dnnl::algorithm::binary_mul;
    dnnl::memory sum = get(0);
    for (std::size_t i = 1; i < n.inputs.size(); ++i) {
        const dnnl::memory other = ctx.reorder_to(get(i), sum.get_desc());
        const dnnl::binary::primitive_desc pd(dnnl::binary::desc(alg, sum.get_desc(), other.get_desc(), sum.get_desc()),
                                              ctx.plain_attr(), ctx.engine());
        dnnl::memory dst = ctx.new_memory(pd.dst_desc());
        ctx.add(dnnl::binary(pd), pd.scratchpad_desc(),
                {{DNNL_ARG_SRC_0, sum}, {DNNL_ARG_SRC_1, other}, {DNNL_ARG_DST, dst}});
        sum = dst;
    }
    ctx.output(n, sum, channels);
}

double merge_flops(const bound_layer& l) { return double(element_count(l.out)) * double(l.in.size() - 1); }

}  // namespace

extern const layer_descriptor add_layer{
    .kind = layer_kind::add, .name = "add", .alias = nullptr, .has_weights = false, .min_inputs = 2,
    .max_inputs = 64, .parse = no_options, .bind = bind_merge, .lower = lower_merge, .flops = merge_flops};
extern const layer_descriptor multiply_layer{
    .kind = layer_kind::multiply, .name = "multiply", .alias = nullptr, .has_weights = false, .min_inputs = 2,
    .max_inputs = 64, .parse = no_options, .bind = bind_merge, .lower = lower_merge, .flops = merge_flops};

}  // namespace npyflow
