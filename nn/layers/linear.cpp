// linear (Keras: dense), on the last axis of a (features) or (T, features) sample.
// Arrays: "weight" (out, in) in torch, "kernel" (in, out) in keras, bound as stored; "bias" (out).
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {
namespace {

void parse_linear(option_reader& r, layer_spec& l) {
    l.out_features = r.positive({"out_features", "units"});
    l.in_features = r.positive({"in_features"});
    if (auto b = r.boolean({"bias", "use_bias"})) l.bias = *b;
}

bool bind_linear(binding_context& ctx, bound_layer& b) {
    const auto& s = b.spec;
    const tensor_shape& x = b.in[0];
    if (x.size() > 2) {
        return ctx.problem(fmt::format("needs (features) or (T, features) input; put a flatten before it (input {})",
                                       format_shape(x)));
    }
    const bool torch = ctx.torch();
    const std::uint64_t in = x.back();
    if (!check_stated_input(ctx, b, in, "in_features")) return false;
    auto with_out = [&](std::uint64_t out) {
        tensor_shape y = x;
        y.back() = out;
        return y;
    };
    auto weight = ctx.fetch("weight", torch ? "weight" : "kernel", s.out_features ? saturating_product({in, *s.out_features}) : 0);
    if (!weight) {
        // With out_features given, later layers can still be checked.
        if (s.out_features) b.out = with_out(*s.out_features);
        return s.out_features.has_value();
    }
    std::uint64_t out = s.out_features.value_or(0);
    if (weight->shape.size() == 2) {
        const std::uint64_t stored_out = torch ? weight->shape[0] : weight->shape[1];
        const std::uint64_t stored_in = torch ? weight->shape[1] : weight->shape[0];
        if (!s.out_features) out = stored_out;
        if (stored_in != in && stored_out == in) {
            out = s.out_features.value_or(stored_in);  // as the other layout reads it
            const auto expected = torch ? std::vector<std::uint64_t>{out, in} : std::vector<std::uint64_t>{in, out};
            ctx.check_shape(*weight, expected, torch ? "(out, in)" : "(in, out)",
                            torch ? "looks like Keras (in,out); set \"layout\": \"keras\""
                                  : "looks like PyTorch (out,in); set \"layout\": \"torch\"");
            return false;
        }
    } else if (ctx.flat_weights() && !s.out_features) {
        return ctx.problem("a flat weight vector needs 'out_features'");
    }
    if (out == 0) return ctx.problem("array '" + weight->source + "' must be 2-D");
    const bool square = weight->shape.size() == 2 && weight->shape[0] == weight->shape[1];
    if (in > 1 && out > 1) refuse_if_ambiguous(ctx, *weight, square, "(out, in)", "(in, out)");
    const auto expected = torch ? std::vector<std::uint64_t>{out, in} : std::vector<std::uint64_t>{in, out};
    if (!ctx.check_shape(*weight, expected, torch ? "(out, in)" : "(in, out)")) return false;
    keep_weight_and_bias(ctx, b, *weight, expected, out);
    b.out = with_out(out);
    return fits_in_memory(ctx, b.out);
}

// One matmul over every (row, time step) of the micro-batch.
void lower_linear(lowering_context& ctx, const node& n) {
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    const tensor_shape& x = n.layer->in[0];
    const std::uint64_t f = x.back(), o = n.out.back();
    const std::uint64_t m = ctx.rows() * element_count(x) / f;
    const dnnl::memory::desc src_md(to_dims({m, f}), dt::f32, tag::ab), dst_md(to_dims({m, o}), dt::f32, tag::ab);
    const dnnl::memory::desc user_w(to_dims({f, o}), dt::f32,
                                  n.layer->layout == weight_layout::torch ? tag::ba : tag::ab);
    const dnnl::memory::desc any_w(to_dims({f, o}), dt::f32, tag::any);
    const dnnl::memory::desc bias_md(to_dims({1, o}), dt::f32, tag::ab);
    const bool has_bias = n.params.contains("bias");
    const auto desc = has_bias ? dnnl::matmul::desc(src_md, any_w, bias_md, dst_md) : dnnl::matmul::desc(src_md, any_w, dst_md);
    const dnnl::matmul::primitive_desc pd(desc, ctx.attr(n), ctx.engine());
    dnnl::memory dst = ctx.new_memory(dst_md);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, ctx.view(ctx.plain(n, 0), src_md)},
                                               {DNNL_ARG_WEIGHTS, ctx.weights(n, "weight", user_w, pd.weights_desc())},
                                               {DNNL_ARG_DST, dst}};
    if (has_bias) args[DNNL_ARG_BIAS] = ctx.constant(n.params.at("bias"), bias_md);
    ctx.add(dnnl::matmul(pd), pd.scratchpad_desc(), std::move(args));
    ctx.output(n, ctx.view(dst, ctx.plain_desc(n.out)), false);
}

double linear_flops(const bound_layer& l) {
    return 2.0 * double(element_count(l.in[0])) * double(l.out.back());
}

}  // namespace

extern const layer_descriptor linear_layer{
    .kind = layer_kind::linear, .name = "linear", .alias = "dense", .has_weights = true, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_linear, .bind = bind_linear, .lower = lower_linear, .flops = linear_flops,
    .takes_post_ops = true};

}  // namespace npyflow
