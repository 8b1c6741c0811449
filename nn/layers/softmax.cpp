// softmax and log_softmax over the last axis of a sample of any rank.
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {
namespace {

// "dim" (torch) and "axis" (keras) count the batch axis, as both frameworks do; npyflow
// computes over the last axis only, so any other is refused rather than ignored.
void parse_softmax(option_reader& r, layer_spec& l) { l.dim = r.integer({"dim", "axis"}); }

bool bind_softmax(binding_context& ctx, bound_layer& b) {
    const auto rank = static_cast<std::int64_t>(b.in[0].size());
    if (b.spec.dim && *b.spec.dim != -1 && *b.spec.dim != rank) {
        return ctx.problem(fmt::format("works over the last axis only (dim -1, or {} counting the batch), got dim {} "
                                       "of a {} sample",
                                       rank, *b.spec.dim, format_shape(b.in[0])));
    }
    b.out = b.in[0];
    return true;
}

void lower_softmax(lowering_context& ctx, const node& n) {
    const dnnl::memory src = ctx.plain(n, 0);
    const int axis = static_cast<int>(n.out.size());
    dnnl::memory dst = ctx.new_memory(src.get_desc());
    const auto prop = dnnl::prop_kind::forward_inference;
    if (n.layer->spec.kind == layer_kind::softmax) {
        const dnnl::softmax_forward::primitive_desc pd(dnnl::softmax_forward::desc(prop, src.get_desc(), axis),
                                                       ctx.plain_attr(), ctx.engine());
        ctx.add(dnnl::softmax_forward(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    } else {
        const dnnl::logsoftmax_forward::primitive_desc pd(dnnl::logsoftmax_forward::desc(prop, src.get_desc(), axis),
                                                          ctx.plain_attr(), ctx.engine());
        ctx.add(dnnl::logsoftmax_forward(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    }
    ctx.output(n, dst, false);
}

double softmax_flops(const bound_layer& l) { return 3.0 * double(element_count(l.out)); }

}  // namespace

extern const layer_descriptor softmax_layer{
    .kind = layer_kind::softmax, .name = "softmax", .alias = nullptr, .has_weights = false, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_softmax, .bind = bind_softmax, .lower = lower_softmax, .flops = softmax_flops};
extern const layer_descriptor log_softmax_layer{
    .kind = layer_kind::log_softmax, .name = "log_softmax", .alias = nullptr, .has_weights = false, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_softmax, .bind = bind_softmax, .lower = lower_softmax, .flops = softmax_flops};

}  // namespace npyflow
