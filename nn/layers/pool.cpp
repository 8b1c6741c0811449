// maxpool1d/2d and avgpool1d/2d (Keras: max_pooling2d, average_pooling2d). Average pooling
// counts the padding by default in torch (count_include_pad) and not in keras.
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"
#include "npyflow/nn/layers/window.hpp"

namespace npyflow {
namespace {

template <std::size_t rank>
void parse_pool(option_reader& r, layer_spec& l) {
    parse_window(r, l, rank, true);
    if (l.kind == layer_kind::avgpool1d || l.kind == layer_kind::avgpool2d) {
        l.count_include_pad = r.boolean({"count_include_pad"});
    }
    if (r.boolean({"ceil_mode"}).value_or(false)) {
        throw error("'ceil_mode' true is not supported: npyflow's windows use floor mode, PyTorch's default");
    }
}

template <std::size_t rank>
bool bind_pool(binding_context& ctx, bound_layer& b) {
    if (!check_spatial_input(ctx, b, rank)) return false;
    b.kernel = b.spec.kernel_size;
    b.stride = b.spec.stride.empty() ? b.kernel : b.spec.stride;
    // PyTorch's rule: a window past this would cover only padding, and give no value it could.
    for (std::size_t a = 0; b.spec.padding == layer_spec::padding_mode::explicit_ && a < rank; ++a) {
        if (b.spec.pad[a] > b.kernel[a] / 2) {
            return ctx.problem(fmt::format("'padding' {} is more than half the kernel {}, as PyTorch refuses too",
                                           format_shape(b.spec.pad), format_shape(b.kernel)));
        }
    }
    const auto out = slide_window(ctx, b, spatial_of(b.in[0], ctx.layout()));
    if (!out) return false;
    b.out = with_channels(channels_of(b.in[0], ctx.layout()), *out, ctx.layout());
    return true;
}

void lower_pool(lowering_context& ctx, const node& n) {
    const bound_layer& l = *n.layer;
    const bool max = l.spec.kind == layer_kind::maxpool1d || l.spec.kind == layer_kind::maxpool2d;
    const bool include_pad = l.spec.count_include_pad.value_or(ctx.torch());
    const auto alg = max ? dnnl::algorithm::pooling_max
                     : include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                   : dnnl::algorithm::pooling_avg_exclude_padding;
    const dnnl::memory src = ctx.channels(n, 0);
    const dnnl::memory::desc dst_any(ctx.channels_desc(n.out).dims(), dnnl::memory::data_type::f32,
                                     dnnl::memory::format_tag::any);
    const dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src.get_desc(), dst_any,
                                           to_dims(l.stride), to_dims(l.kernel), to_dims(l.pad_begin), to_dims(l.pad_end));
    const dnnl::pooling_forward::primitive_desc pd(desc, ctx.plain_attr(), ctx.engine());
    dnnl::memory dst = ctx.new_memory(pd.dst_desc());
    ctx.add(dnnl::pooling_forward(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    ctx.output(n, dst, true);
}

double pool_flops(const bound_layer& l) { return double(element_count(l.out)) * double(element_count(l.kernel)); }

constexpr layer_descriptor pool(layer_kind kind, const char* name, const char* alias, std::size_t rank) {
    return {.kind = kind, .name = name, .alias = alias, .has_weights = false, .min_inputs = 1, .max_inputs = 1,
            .parse = rank == 1 ? parse_pool<1> : parse_pool<2>, .bind = rank == 1 ? bind_pool<1> : bind_pool<2>,
            .lower = lower_pool, .flops = pool_flops};
}

}  // namespace

extern const layer_descriptor maxpool1d_layer = pool(layer_kind::maxpool1d, "maxpool1d", "max_pooling1d", 1);
extern const layer_descriptor maxpool2d_layer = pool(layer_kind::maxpool2d, "maxpool2d", "max_pooling2d", 2);
extern const layer_descriptor avgpool1d_layer = pool(layer_kind::avgpool1d, "avgpool1d", "average_pooling1d", 1);
extern const layer_descriptor avgpool2d_layer = pool(layer_kind::avgpool2d, "avgpool2d", "average_pooling2d", 2);

}  // namespace npyflow
