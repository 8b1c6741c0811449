// global_avgpool1d/2d (Keras: global_average_pooling1d/2d): the mean over the spatial axes,
// giving a flat (C) sample, as PyTorch's AdaptiveAvgPool + flatten and Keras's layer do.
#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"
#include "npyflow/nn/layers/window.hpp"

namespace npyflow {
namespace {

void parse_global(option_reader& r, layer_spec&) {
    if (r.boolean({"keepdims"}).value_or(false)) throw error("'keepdims' true is not supported: the output is (C)");
}

template <std::size_t rank>
bool bind_global(binding_context& ctx, bound_layer& b) {
    if (!check_spatial_input(ctx, b, rank)) return false;
    b.kernel = spatial_of(b.in[0], ctx.layout());
    b.stride = b.kernel;
    b.pad_begin = b.pad_end = std::vector<std::uint64_t>(rank, 0);
    b.out = {channels_of(b.in[0], ctx.layout())};
    return true;
}

void lower_global(lowering_context& ctx, const node& n) {
    const bound_layer& l = *n.layer;
    const dnnl::memory src = ctx.channels(n, 0);
    // (rows, C, 1...) in plain order: the same bytes as the flat (rows, C) output.
    dnnl::memory::dims dims{static_cast<dnnl::memory::dim>(ctx.rows()), static_cast<dnnl::memory::dim>(n.out[0])};
    dims.resize(l.kernel.size() + 2, 1);
    const dnnl::memory::desc dst_md(dims, dnnl::memory::data_type::f32,
                                    l.kernel.size() == 1 ? dnnl::memory::format_tag::abc : dnnl::memory::format_tag::abcd);
    // The pooling writes the format its kernel takes (a channels-last input gets a
    // channels-last output; forcing plain order would leave only oneDNN's reference code),
    // reordered to plain order after: rows x C values, little to move.
    const dnnl::memory::desc any_md(dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
    const dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_avg_exclude_padding,
                                           src.get_desc(), any_md, to_dims(l.stride), to_dims(l.kernel),
                                           to_dims(l.pad_begin), to_dims(l.pad_end));
    const dnnl::pooling_forward::primitive_desc pd(desc, ctx.plain_attr(), ctx.engine());
    dnnl::memory dst = ctx.new_memory(pd.dst_desc());
    ctx.add(dnnl::pooling_forward(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    ctx.output(n, ctx.view(ctx.reorder_to(dst, dst_md), ctx.plain_desc(n.out)), false);
}

double global_flops(const bound_layer& l) { return double(element_count(l.in[0])); }

}  // namespace

extern const layer_descriptor global_avgpool1d_layer{
    .kind = layer_kind::global_avgpool1d, .name = "global_avgpool1d", .alias = "global_average_pooling1d",
    .has_weights = false, .min_inputs = 1, .max_inputs = 1, .parse = parse_global, .bind = bind_global<1>,
    .lower = lower_global, .flops = global_flops};
extern const layer_descriptor global_avgpool2d_layer{
    .kind = layer_kind::global_avgpool2d, .name = "global_avgpool2d", .alias = "global_average_pooling2d",
    .has_weights = false, .min_inputs = 1, .max_inputs = 1, .parse = parse_global, .bind = bind_global<2>,
    .lower = lower_global, .flops = global_flops};

}  // namespace npyflow
