// batchnorm (Keras: batch_normalization) with running statistics, over the channels axis:
// the first per-sample axis in torch, the last in keras. Arrays "weight", "bias", "mean",
// "var" (torch weight, bias, running_mean, running_var; keras gamma, beta, moving_mean,
// moving_variance), each (C). After a conv or linear it is folded into its weights
// (nn/network.cpp).
#include <algorithm>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {
namespace {

void parse_batchnorm(option_reader& r, layer_spec& l) {
    l.eps = r.number({"eps", "epsilon"}, 0);
    r.ignore({"momentum"});  // training only
    l.in_features = r.positive({"num_features"});
}

bool bind_batchnorm(binding_context& ctx, bound_layer& b) {
    const bool torch = ctx.torch();
    const std::uint64_t c = channels_of(b.in[0], ctx.layout());
    if (!check_stated_input(ctx, b, c, "num_features")) return false;
    b.eps = b.spec.eps.value_or(torch ? 1e-5 : 1e-3);
    const std::pair<const char*, const char*> roles[] = {{"weight", torch ? "weight" : "gamma"},
                                                         {"bias", torch ? "bias" : "beta"},
                                                         {"mean", torch ? "running_mean" : "moving_mean"},
                                                         {"var", torch ? "running_var" : "moving_variance"}};
    for (const auto& [role, framework_role] : roles) {
        auto t = ctx.fetch(role, framework_role, c);
        if (!t || !ctx.check_shape(*t, {c}, "(channels,)")) continue;
        t->shape = {c};
        if (std::string_view(role) == "var") {
            const auto neg = std::find_if(t->values.begin(), t->values.end(), [](float v) { return v < 0; });
            if (neg != t->values.end()) {
                ctx.problem(fmt::format("array '{}' holds a negative variance {} at index {}", t->source, *neg,
                                        neg - t->values.begin()));
            }
        }
        b.params[role] = *t;
    }
    ctx.skip_step_counter();
    b.out = b.in[0];
    return true;
}

void lower_batchnorm(lowering_context& ctx, const node& n) {
    const auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                       dnnl::normalization_flags::use_shift;
    const dnnl::memory src = ctx.channels(n, 0);
    const dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, src.get_desc(),
                                                       static_cast<float>(n.layer->eps), flags);
    const dnnl::batch_normalization_forward::primitive_desc pd(desc, ctx.plain_attr(), ctx.engine());
    const std::uint64_t c = channels_of(n.out, ctx.layout());
    const dnnl::memory::desc c_md(to_dims({c}), dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
    auto param = [&](const char* role) { return ctx.constant(n.params.at(role), c_md); };
    dnnl::memory dst = ctx.new_memory(pd.dst_desc());
    ctx.add(dnnl::batch_normalization_forward(pd), pd.scratchpad_desc(),
            {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_MEAN, param("mean")}, {DNNL_ARG_VARIANCE, param("var")},
             {DNNL_ARG_SCALE, param("weight")}, {DNNL_ARG_SHIFT, param("bias")}});
    ctx.output(n, dst, true);
}

}  // namespace

extern const layer_descriptor batchnorm_layer{
    .kind = layer_kind::batchnorm, .name = "batchnorm", .alias = "batch_normalization", .has_weights = true,
    .min_inputs = 1, .max_inputs = 1, .parse = parse_batchnorm, .bind = bind_batchnorm, .lower = lower_batchnorm,
    .flops = zero_flops};

}  // namespace npyflow
