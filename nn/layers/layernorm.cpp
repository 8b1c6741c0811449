// layernorm (Keras: layer_normalization): normalizes each sample over its trailing
// `normalized_shape` dims (default: the last). Arrays "weight", "bias" (torch weight and
// bias; keras gamma and beta) of normalized_shape, unless elementwise_affine is false.
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {
namespace {

void parse_layernorm(option_reader& r, layer_spec& l) {
    if (const nlohmann::json* v = r.take({"normalized_shape"})) {
        const auto values = v->is_array() ? *v : nlohmann::json::array({*v});
        if (values.empty()) throw error("'normalized_shape' must be a positive integer or a list of them");
        for (const auto& d : values) {
            if (!d.is_number_integer() || d.get<std::int64_t>() < 1) {
                throw error(fmt::format("'normalized_shape' must be a positive integer or a list of them, got {}",
                                        v->dump()));
            }
            l.normalized_shape.push_back(d.get<std::uint64_t>());
        }
    }
    if (const auto axis = r.integer({"axis"}); axis && *axis != -1) {
        throw error(fmt::format("'axis' {}: npyflow normalizes over the last axes (-1)", *axis));
    }
    l.eps = r.number({"eps", "epsilon"}, 0);
    const auto affine = r.boolean({"elementwise_affine"});
    const auto center = r.boolean({"center"}), scale = r.boolean({"scale"});
    if (center.value_or(true) != scale.value_or(true)) {
        throw error("'center' and 'scale' must both be true or both false (npyflow binds gamma and beta together)");
    }
    l.elementwise_affine = affine.value_or(center.value_or(true));
}

bool bind_layernorm(binding_context& ctx, bound_layer& b) {
    const tensor_shape& x = b.in[0];
    const tensor_shape normalized = b.spec.normalized_shape.empty() ? tensor_shape{x.back()} : b.spec.normalized_shape;
    if (normalized.size() > x.size() || !std::equal(normalized.rbegin(), normalized.rend(), x.rbegin())) {
        return ctx.problem(fmt::format("'normalized_shape' {} is not the last dims of its input {}",
                                       format_shape(normalized), format_shape(x)));
    }
    b.eps = b.spec.eps.value_or(ctx.torch() ? 1e-5 : 1e-3);
    b.out = x;
    if (!b.spec.elementwise_affine) return true;
    const std::uint64_t k = element_count(normalized);
    for (const auto& [role, framework_role] : {std::pair{"weight", ctx.torch() ? "weight" : "gamma"},
                                               std::pair{"bias", ctx.torch() ? "bias" : "beta"}}) {
        auto t = ctx.fetch(role, framework_role, k);
        // Keras keeps gamma and beta flat when it normalizes over several axes.
        if (!t || (t->shape != tensor_shape{k} && !ctx.check_shape(*t, normalized, "(normalized_shape)"))) continue;
        t->shape = {k};
        b.params[role] = *t;
    }
    return true;
}

// Over (rows x leading dims, normalized values), as oneDNN normalizes the last dim.
void lower_layernorm(lowering_context& ctx, const node& n) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const bound_layer& l = *n.layer;
    const std::uint64_t k = l.spec.normalized_shape.empty() ? n.out.back() : element_count(l.spec.normalized_shape);
    const std::uint64_t m = ctx.rows() * element_count(n.out) / k;
    const dnnl::memory::desc md(to_dims({m, k}), dt::f32, tag::ab);
    auto flags = dnnl::normalization_flags::none;
    if (l.spec.elementwise_affine) flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    const dnnl::layer_normalization_forward::primitive_desc pd(
        dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, md, static_cast<float>(l.eps), flags),
        ctx.plain_attr(), ctx.engine());
    dnnl::memory dst = ctx.new_memory(md);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, ctx.view(ctx.plain(n, 0), md)}, {DNNL_ARG_DST, dst}};
    if (l.spec.elementwise_affine) {
        const dnnl::memory::desc k_md(to_dims({k}), dt::f32, tag::a);
        args[DNNL_ARG_SCALE] = ctx.constant(n.params.at("weight"), k_md);
        args[DNNL_ARG_SHIFT] = ctx.constant(n.params.at("bias"), k_md);
    }
    ctx.add(dnnl::layer_normalization_forward(pd), pd.scratchpad_desc(), std::move(args));
    ctx.output(n, ctx.view(dst, ctx.plain_desc(n.out)), false);
}

double layernorm_flops(const bound_layer& l) { return 8.0 * double(element_count(l.out)); }

}  // namespace

extern const layer_descriptor layernorm_layer{
    .kind = layer_kind::layernorm, .name = "layernorm", .alias = "layer_normalization", .has_weights = true,
    .min_inputs = 1, .max_inputs = 1, .parse = parse_layernorm, .bind = bind_layernorm, .lower = lower_layernorm,
    .flops = layernorm_flops};

}  // namespace npyflow
