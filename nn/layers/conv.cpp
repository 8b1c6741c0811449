// conv1d and conv2d. Arrays: "weight" (O, I/groups, k...) in torch, "kernel" (k..., I/groups, O)
// in keras, both bound as stored (the lowering names the format); "bias" (O).
#include <optional>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"
#include "npyflow/nn/layers/window.hpp"

namespace npyflow {
namespace {

template <std::size_t rank>
void parse_conv(option_reader& r, layer_spec& l) {
    l.out_features = r.positive({"out_channels", "filters"});
    l.in_features = r.positive({"in_channels"});
    parse_window(r, l, rank, false);
    if (auto g = r.positive({"groups"})) l.groups = *g;
    if (auto b = r.boolean({"bias", "use_bias"})) l.bias = *b;
}

template <std::size_t rank>
bool bind_conv(binding_context& ctx, bound_layer& b) {
    const auto& s = b.spec;
    if (!check_spatial_input(ctx, b, rank)) return false;
    const bool torch = ctx.torch();
    const std::uint64_t c = channels_of(b.in[0], ctx.layout());
    const auto spatial = spatial_of(b.in[0], ctx.layout());
    if (!check_stated_input(ctx, b, c, "in_channels")) return false;
    if (c % s.groups != 0) return ctx.problem(fmt::format("{} input channels do not split into {} groups", c, s.groups));
    const std::uint64_t cg = c / s.groups;
    std::uint64_t flat_values = 0;
    if (s.out_features && !s.kernel_size.empty()) {
        flat_values = saturating_product({*s.out_features, cg});
        for (auto k : s.kernel_size) flat_values = saturating_product({flat_values, k});
    }
    auto weight = ctx.fetch("weight", torch ? "weight" : "kernel", flat_values);
    if (!weight) return false;
    std::uint64_t out = s.out_features.value_or(0);
    std::vector<std::uint64_t> k = s.kernel_size;
    std::string hint;
    const auto& w = weight->shape;
    if (w.size() == rank + 2) {
        const std::vector<std::uint64_t> torch_k(w.begin() + 2, w.end()), keras_k(w.begin(), w.begin() + rank);
        if (!s.out_features) out = torch ? w.front() : w.back();
        if (k.empty()) k = torch ? torch_k : keras_k;
        // The same sizes in the other framework's order: (k..., I/g, O) for torch, (O, I/g, k...) for keras.
        const std::uint64_t alt_out = s.out_features.value_or(torch ? w.back() : w.front());
        const auto alt_k = s.kernel_size.empty() ? (torch ? keras_k : torch_k) : s.kernel_size;
        std::vector<std::uint64_t> alt = alt_k;
        if (torch) {
            alt.push_back(cg);
            alt.push_back(alt_out);
        } else {
            alt.insert(alt.begin(), {alt_out, cg});
        }
        if (w == alt) {
            hint = rank == 2 ? (torch ? "looks like Keras HWIO; set \"layout\": \"keras\""
                                      : "looks like PyTorch OIHW; set \"layout\": \"torch\"")
                             : (torch ? "looks like Keras (k, in, out); set \"layout\": \"keras\""
                                      : "looks like PyTorch (out, in, k); set \"layout\": \"torch\"");
        }
    }
    if (out == 0 || k.empty()) return ctx.problem(fmt::format("array '{}' must be {}-D", weight->source, rank + 2));
    if (out % s.groups != 0) return ctx.problem(fmt::format("{} output channels do not split into {} groups", out, s.groups));
    std::vector<std::uint64_t> expected = k;
    if (torch) {
        expected.insert(expected.begin(), {out, cg});
    } else {
        expected.push_back(cg);
        expected.push_back(out);
    }
    const char* meaning = rank == 2 ? (torch ? "(O, I/groups, kH, kW)" : "(kH, kW, I/groups, O)")
                                    : (torch ? "(O, I/groups, k)" : "(k, I/groups, O)");
    if (!ctx.check_shape(*weight, expected, meaning, hint)) return false;
    if (out > 1 || cg > 1) {
        refuse_if_ambiguous(ctx, *weight, !hint.empty(), rank == 2 ? "OIHW" : "(out, in, k)", rank == 2 ? "HWIO" : "(k, in, out)");
    }
    keep_weight_and_bias(ctx, b, *weight, expected, out);
    b.kernel = k;
    const auto out_spatial = slide_window(ctx, b, spatial);
    if (!out_spatial) return false;
    b.out = with_channels(out, *out_spatial, ctx.layout());
    return fits_in_memory(ctx, b.out);
}

template <std::size_t rank>
void lower_conv(lowering_context& ctx, const node& n) {
    using tag = dnnl::memory::format_tag;
    const bound_layer& l = *n.layer;
    const std::uint64_t g = l.spec.groups;
    const std::uint64_t o = channels_of(n.out, ctx.layout()), i = channels_of(l.in[0], ctx.layout()) / g;
    std::vector<std::uint64_t> w_dims = g == 1 ? std::vector<std::uint64_t>{o, i} : std::vector<std::uint64_t>{g, o / g, i};
    w_dims.insert(w_dims.end(), l.kernel.begin(), l.kernel.end());
    const bool torch = l.layout == weight_layout::torch;  // the arrays' layout, maybe the layer's own
    tag w_tag;
    if constexpr (rank == 1) {
        w_tag = g == 1 ? (torch ? tag::oiw : tag::wio) : (torch ? tag::goiw : tag::wigo);
    } else {
        w_tag = g == 1 ? (torch ? tag::oihw : tag::hwio) : (torch ? tag::goihw : tag::hwigo);
    }
    const dnnl::memory::desc user_w(to_dims(w_dims), dnnl::memory::data_type::f32, w_tag);
    const dnnl::memory::desc any_w(to_dims(w_dims), dnnl::memory::data_type::f32, tag::any);
    const dnnl::memory::desc bias_md(to_dims({o}), dnnl::memory::data_type::f32, tag::a);
    auto any_of = [&](const tensor_shape& shape) {
        return dnnl::memory::desc(ctx.channels_desc(shape).dims(), dnnl::memory::data_type::f32, tag::any);
    };
    std::vector<std::uint64_t> dilates;
    for (auto d : l.dilation) dilates.push_back(d - 1);
    const bool has_bias = n.params.contains("bias");
    const auto prop = dnnl::prop_kind::forward_inference;
    auto alg = dnnl::algorithm::convolution_direct;
    auto make_desc = [&](const dnnl::memory::desc& dst_md) {
        return has_bias ? dnnl::convolution_forward::desc(prop, alg, any_of(l.in[0]), any_w, bias_md, dst_md,
                                                          to_dims(l.stride), to_dims(dilates), to_dims(l.pad_begin),
                                                          to_dims(l.pad_end))
                        : dnnl::convolution_forward::desc(prop, alg, any_of(l.in[0]), any_w, dst_md, to_dims(l.stride),
                                                          to_dims(dilates), to_dims(l.pad_begin), to_dims(l.pad_end));
    };
    // The post-ops a kernel may take whatever it is: the activations before any residual add.
    std::size_t before_add = 0;
    while (before_add < n.post_ops.size() && n.post_ops[before_add].eltwise) ++before_add;
    // Winograd's F(4x4, 3x3) where oneDNN has it (AVX-512 machines; 3x3, stride 1, one group)
    // and the channels make it pay: 2.25x fewer multiplications, for transforms whose cost
    // only wide convs hide (ResNet-18's 64 to 512 channels: 1.4x the rows/s; the Fashion-MNIST
    // CNN's 16 and 32: half). Its rounding differs from the direct conv's by about 1e-6
    // relative; the choice depends on the layer alone, so bits stay the same for any batch
    // and threads.
    if (rank == 2 && g == 1 && i >= 64 && o >= 64) {
        try {
            alg = dnnl::algorithm::convolution_winograd;
            (void)dnnl::convolution_forward::primitive_desc(make_desc(any_of(n.out)), ctx.attr(n, {}, 0, before_add),
                                                            ctx.engine());
        } catch (const dnnl::error&) {  // no such kernel here
            alg = dnnl::algorithm::convolution_direct;
        }
    }
    // A fused residual add reads its tensor in the output's format: the format the conv picks
    // on its own, fixed before the add is attached (so the kernel stays the same).
    dnnl::memory::desc dst_md = any_of(n.out);
    if (n.has_residual()) {
        dst_md = dnnl::convolution_forward::primitive_desc(make_desc(dst_md), ctx.plain_attr(), ctx.engine()).dst_desc();
    }
    // Where no fast kernel takes the residual add (oneDNN 2.6's brgconv, which AVX-512
    // machines get, takes none; winograd's neither), the fused conv would run on oneDNN's
    // reference code, about 100x slower, or not at all: the conv then keeps the post-ops
    // before the add, and binary adds do the rest.
    std::optional<dnnl::convolution_forward::primitive_desc> fused_pd;
    try {
        fused_pd.emplace(make_desc(dst_md), ctx.attr(n, dst_md), ctx.engine());
    } catch (const dnnl::error&) {
        if (!n.has_residual()) throw;
    }
    const bool split = n.has_residual() && (!fused_pd || is_reference_code(*fused_pd));
    const std::size_t fused = split ? before_add : n.post_ops.size();
    const auto pd = split ? dnnl::convolution_forward::primitive_desc(make_desc(dst_md), ctx.attr(n, dst_md, 0, fused),
                                                                      ctx.engine())
                          : *fused_pd;
    const dnnl::memory src = ctx.reorder_to(ctx.channels(n, 0), pd.src_desc());
    dnnl::memory dst = ctx.new_memory(pd.dst_desc());
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, ctx.weights(n, "weight", user_w, pd.weights_desc())}, {DNNL_ARG_DST, dst}};
    if (has_bias) args[DNNL_ARG_BIAS] = ctx.constant(n.params.at("bias"), bias_md);
    if (fused == n.post_ops.size()) ctx.residual_args(n, pd.dst_desc(), args);
    ctx.add(dnnl::convolution_forward(pd), pd.scratchpad_desc(), std::move(args));
    ctx.output(n, ctx.apply_post_ops(n, dst, fused), true);
}

// Each output value is a dot product over I/groups channels and the kernel.
double conv_flops(const bound_layer& l) {
    // The weight's output-channel axis: first in torch's layout, last in keras's (l.layout is the
    // arrays' layout, which may differ from the data's).
    const auto& w = l.params.at("weight").shape;
    const std::uint64_t out_channels = l.layout == weight_layout::torch ? w.front() : w.back();
    return 2.0 * double(element_count(l.out)) * double(element_count(l.params.at("weight").shape) / out_channels);
}

}  // namespace

extern const layer_descriptor conv1d_layer{
    .kind = layer_kind::conv1d, .name = "conv1d", .alias = nullptr, .has_weights = true, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_conv<1>, .bind = bind_conv<1>, .lower = lower_conv<1>, .flops = conv_flops,
    .takes_post_ops = true, .takes_residual = true};
extern const layer_descriptor conv2d_layer{
    .kind = layer_kind::conv2d, .name = "conv2d", .alias = nullptr, .has_weights = true, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_conv<2>, .bind = bind_conv<2>, .lower = lower_conv<2>, .flops = conv_flops,
    .takes_post_ops = true, .takes_residual = true};

}  // namespace npyflow
