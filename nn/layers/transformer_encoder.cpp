// transformer_encoder: PyTorch's nn.TransformerEncoderLayer (batch_first) on (T, d_model)
// samples, built from oneDNN matmuls, softmax, binary adds and layer normalization:
//   post-norm (norm_first false): x = norm1(x + attention(x)); x = norm2(x + ff(x))
//   pre-norm (norm_first true):   x = x + attention(norm1(x)); x = x + ff(norm2(x))
//   attention: q, k, v = x in_proj^T + b split; per head softmax(q k^T / sqrt(d/nhead)) v;
//              the heads side by side through out_proj; ff: linear2(activation(linear1(x))).
// Arrays (state_dict names below the layer's name, in this order): self_attn.in_proj_weight
// (3d, d), self_attn.in_proj_bias, self_attn.out_proj.weight (d, d), self_attn.out_proj.bias,
// linear1.weight (ff, d), linear1.bias, linear2.weight (d, ff), linear2.bias, norm1.weight,
// norm1.bias, norm2.weight, norm2.bias. The torch layout only: Keras has no such layer.
#include <cmath>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// The arrays: role, shape as a function of d and ff.
struct array_role {
    const char* name;
    int rows_of;  // 0: none (a vector), 1: 3d, 2: d, 3: ff
    int length_of;
};
constexpr array_role arrays[] = {
    {"self_attn.in_proj_weight", 1, 2}, {"self_attn.in_proj_bias", 0, 1}, {"self_attn.out_proj.weight", 2, 2},
    {"self_attn.out_proj.bias", 0, 2},  {"linear1.weight", 3, 2},         {"linear1.bias", 0, 3},
    {"linear2.weight", 2, 3},           {"linear2.bias", 0, 2},           {"norm1.weight", 0, 2},
    {"norm1.bias", 0, 2},               {"norm2.weight", 0, 2},           {"norm2.bias", 0, 2},
};

void parse_transformer(option_reader& r, layer_spec& l) {
    if (r.keras()) throw error("is PyTorch's nn.TransformerEncoderLayer; use \"layout\": \"torch\"");
    l.in_features = r.positive({"d_model"});
    l.heads = r.positive({"nhead"}).value_or(0);
    if (l.heads == 0) throw error("needs 'nhead'");
    l.out_features = r.positive({"dim_feedforward"});
    l.eps = r.number({"layer_norm_eps"}, 0);
    l.norm_first = r.boolean({"norm_first"}).value_or(false);
    if (const nlohmann::json* v = r.take({"activation"})) {
        if (*v != "relu" && *v != "gelu") throw error(fmt::format("'activation' must be \"relu\" or \"gelu\", got {}", v->dump()));
        l.gelu = *v == "gelu";
    }
    if (!r.boolean({"batch_first"}).value_or(true)) {
        throw error("'batch_first' false: npyflow's samples are (T, d_model) with rows as the batch; set it true");
    }
    r.ignore({"dropout"});
}

bool bind_transformer(binding_context& ctx, bound_layer& b) {
    const tensor_shape& x = b.in[0];
    if (x.size() != 2) return ctx.problem(fmt::format("needs (T, d_model) input, got {}", format_shape(x)));
    const std::uint64_t d = x[1], heads = b.spec.heads;
    if (!check_stated_input(ctx, b, d, "d_model")) return false;
    if (d % heads != 0) return ctx.problem(fmt::format("d_model {} does not split into {} heads", d, heads));
    std::uint64_t ff = b.spec.out_features.value_or(0);
    bool ok = true;
    for (const auto& a : arrays) {
        auto size = [&](int which) { return which == 1 ? 3 * d : which == 2 ? d : ff; };
        std::uint64_t flat = a.rows_of ? (a.rows_of == 3 && !ff ? 0 : size(a.rows_of)) * size(a.length_of) : size(a.length_of);
        auto t = ctx.fetch(a.name, a.name, flat);
        if (!t) {
            ok = false;
            continue;
        }
        if (a.rows_of == 3 && !ff && t->shape.size() == 2) ff = t->shape[0];  // linear1.weight gives dim_feedforward
        if (!ff && (a.rows_of == 3 || a.length_of == 3)) {
            ok = ctx.problem(fmt::format("array '{}' must be 2-D (dim_feedforward, d_model)", t->source));
            continue;
        }
        const tensor_shape want = a.rows_of ? tensor_shape{size(a.rows_of), size(a.length_of)} : tensor_shape{size(a.length_of)};
        if (!ctx.check_shape(*t, want, a.rows_of ? "(out, in)" : "(features,)")) {
            ok = false;
            continue;
        }
        t->shape = want;
        b.params[a.name] = *t;
    }
    b.eps = b.spec.eps.value_or(1e-5);
    b.out = x;
    return ok && fits_in_memory(ctx, {heads, x[0], x[0]});
}

class encoder_lowering {
public:
    encoder_lowering(lowering_context& ctx, const node& n)
        : ctx_(ctx), n_(n), t_(n.out[0]), d_(n.out[1]), heads_(n.layer->spec.heads),
          ff_(n.params.at("linear1.weight").shape[0]), m_(ctx.rows() * t_) {}

    void lower() {
        const dnnl::memory x = ctx_.view(ctx_.plain(n_, 0), md({m_, d_}));
        dnnl::memory y;
        if (n_.layer->spec.norm_first) {
            const dnnl::memory h = add(x, attention(norm(x, "norm1")));
            y = add(h, feed_forward(norm(h, "norm2")));
        } else {
            const dnnl::memory h = norm(add(x, attention(x)), "norm1");
            y = norm(add(h, feed_forward(h)), "norm2");
        }
        ctx_.output(n_, ctx_.view(y, ctx_.plain_desc(n_.out)), false);
    }

private:
    static dnnl::memory::desc md(std::initializer_list<std::uint64_t> dims) {
        return {to_dims(dims), dt::f32, dims.size() == 2 ? tag::ab : tag::abcd};
    }
    dnnl::memory::desc strided(std::initializer_list<std::uint64_t> dims, std::initializer_list<std::uint64_t> strides) const {
        return {to_dims(dims), dt::f32, to_dims(strides)};
    }

    // src (m, in) x role's weight (out, in)^T + bias, with an activation after it.
    dnnl::memory linear(const dnnl::memory& src, const std::string& prefix, std::uint64_t out,
                        std::optional<dnnl::algorithm> activation = std::nullopt) {
        const std::uint64_t in = src.get_desc().dims()[1];
        const auto weight = prefix + "weight", bias = prefix + "bias";
        dnnl::primitive_attr attr = ctx_.plain_attr();
        if (activation) {
            dnnl::post_ops ops;
            ops.append_eltwise(1.0f, *activation, 0.0f, 0.0f);
            attr.set_post_ops(ops);
        }
        const dnnl::memory::desc any_w(to_dims({in, out}), dt::f32, tag::any), bias_md = md({1, out});
        const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src.get_desc(), any_w, bias_md, md({m_, out})), attr,
                                              ctx_.engine());
        dnnl::memory dst = ctx_.new_memory(md({m_, out}));
        ctx_.add(dnnl::matmul(pd), pd.scratchpad_desc(),
                 {{DNNL_ARG_SRC, src},
                  {DNNL_ARG_WEIGHTS, ctx_.weights(n_, weight, {to_dims({in, out}), dt::f32, tag::ba}, pd.weights_desc())},
                  {DNNL_ARG_BIAS, ctx_.constant(n_.params.at(bias), bias_md)},
                  {DNNL_ARG_DST, dst}});
        return dst;
    }

    dnnl::memory attention(const dnnl::memory& x) {
        const std::uint64_t dh = d_ / heads_, rows = ctx_.rows();
        const dnnl::memory qkv = linear(x, "self_attn.in_proj_", 3 * d_);
        auto* base = static_cast<float*>(qkv.get_data_handle());
        // Views of q, k^T and v per (row, head), without moving them: (rows, T, 3, heads, dh) in memory.
        const auto q_md = strided({rows, heads_, t_, dh}, {t_ * 3 * d_, dh, 3 * d_, 1});
        const auto kt_md = strided({rows, heads_, dh, t_}, {t_ * 3 * d_, dh, 1, 3 * d_});
        const dnnl::memory q(q_md, ctx_.engine(), base), kt(kt_md, ctx_.engine(), base + d_),
            v(q_md, ctx_.engine(), base + 2 * d_);
        dnnl::primitive_attr scaled = ctx_.plain_attr();
        scaled.set_output_scales(0, {1.0f / std::sqrt(static_cast<float>(dh))});
        const auto scores_md = md({rows, heads_, t_, t_});
        const dnnl::matmul::primitive_desc qk(dnnl::matmul::desc(q_md, kt_md, scores_md), scaled, ctx_.engine());
        dnnl::memory scores = ctx_.new_memory(scores_md);
        ctx_.add(dnnl::matmul(qk), qk.scratchpad_desc(), {{DNNL_ARG_SRC, q}, {DNNL_ARG_WEIGHTS, kt}, {DNNL_ARG_DST, scores}});
        const dnnl::softmax_forward::primitive_desc sm(
            dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, scores_md, 3), ctx_.plain_attr(), ctx_.engine());
        dnnl::memory weights = ctx_.new_memory(scores_md);
        ctx_.add(dnnl::softmax_forward(sm), sm.scratchpad_desc(), {{DNNL_ARG_SRC, scores}, {DNNL_ARG_DST, weights}});
        // Each head's context lands in its columns of (rows, T, d): the heads side by side.
        dnnl::memory context = ctx_.new_memory(md({m_, d_}));
        const auto context_md = strided({rows, heads_, t_, dh}, {t_ * d_, dh, d_, 1});
        const dnnl::memory context_heads(context_md, ctx_.engine(), context.get_data_handle());
        const dnnl::matmul::primitive_desc av(dnnl::matmul::desc(scores_md, q_md, context_md), ctx_.plain_attr(),
                                              ctx_.engine());
        ctx_.add(dnnl::matmul(av), av.scratchpad_desc(),
                 {{DNNL_ARG_SRC, weights}, {DNNL_ARG_WEIGHTS, v}, {DNNL_ARG_DST, context_heads}});
        return linear(context, "self_attn.out_proj.", d_);
    }

    dnnl::memory feed_forward(const dnnl::memory& x) {
        const auto act = n_.layer->spec.gelu ? dnnl::algorithm::eltwise_gelu_erf : dnnl::algorithm::eltwise_relu;
        return linear(linear(x, "linear1.", ff_, act), "linear2.", d_);
    }

    dnnl::memory add(const dnnl::memory& a, const dnnl::memory& b) {
        const dnnl::binary::primitive_desc pd(dnnl::binary::desc(dnnl::algorithm::binary_add, a.get_desc(), b.get_desc(),
                                                                 a.get_desc()),
                                              ctx_.plain_attr(), ctx_.engine());
        dnnl::memory dst = ctx_.new_memory(a.get_desc());
        ctx_.add(dnnl::binary(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC_0, a}, {DNNL_ARG_SRC_1, b}, {DNNL_ARG_DST, dst}});
        return dst;
    }

    dnnl::memory norm(const dnnl::memory& x, const std::string& which) {
        const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
        const dnnl::layer_normalization_forward::primitive_desc pd(
            dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, x.get_desc(),
                                                    static_cast<float>(n_.layer->eps), flags),
            ctx_.plain_attr(), ctx_.engine());
        dnnl::memory dst = ctx_.new_memory(x.get_desc());
        const dnnl::memory::desc d_md(to_dims({d_}), dt::f32, tag::a);
        ctx_.add(dnnl::layer_normalization_forward(pd), pd.scratchpad_desc(),
                 {{DNNL_ARG_SRC, x},
                  {DNNL_ARG_DST, dst},
                  {DNNL_ARG_SCALE, ctx_.constant(n_.params.at(which + ".weight"), d_md)},
                  {DNNL_ARG_SHIFT, ctx_.constant(n_.params.at(which + ".bias"), d_md)}});
        return dst;
    }

    lowering_context& ctx_;
    const node& n_;
    std::uint64_t t_, d_, heads_, ff_, m_;
};

void lower_transformer(lowering_context& ctx, const node& n) { encoder_lowering(ctx, n).lower(); }

double transformer_flops(const bound_layer& l) {
    const double t = double(l.out[0]), d = double(l.out[1]), ff = double(l.params.at("linear1.weight").shape[0]);
    return 2.0 * t * d * (3 * d + d + 2 * ff) + 4.0 * t * t * d;
}

}  // namespace

extern const layer_descriptor transformer_encoder_layer{
    .kind = layer_kind::transformer_encoder, .name = "transformer_encoder", .alias = nullptr, .has_weights = true,
    .min_inputs = 1, .max_inputs = 1, .parse = parse_transformer, .bind = bind_transformer, .lower = lower_transformer,
    .flops = transformer_flops};

}  // namespace npyflow
