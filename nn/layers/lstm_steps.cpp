// An lstm layer as one oneDNN matmul a time step, with the cell's update between them.
//
// Each step multiplies [x_t, h_t-1] (rows, in + hidden) by the layer's stacked weights
// (bind_lstm_layer: the input weights' rows above the recurrent ones, the g gate doubled),
// adds the bias and takes the sigmoid of every gate in the matmul's post-op; then
//   c_t = f * c_t-1 + i * (2 * g' - 1)     (2 * sigmoid(2a) - 1 is tanh(a))
//   h_t = o * tanh(c_t)                    (tanh by an eltwise primitive)
// and h_t goes both to the output sequence and to the next step's [x, h].
//
// Why not oneDNN's lstm primitive, as the gru uses: on the model zoo's 2-layer LSTM (T=64,
// H=128) its brgemm cell ran about 10% below this on one AVX-512 core, and the whole model
// stayed under 1.2x ONNX Runtime (docs/performance.md). One product with K = in + hidden
// keeps the weights in cache and the output tile in registers for twice the work of the two
// products oneDNN's cell makes (the input part for every step at once, then the recurrence).
#include "npyflow/nn/layers/lstm_steps.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "npyflow/ops/kernel_clones.hpp"

namespace npyflow {
namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// c = f * c + i * (2 * g' - 1) for each row's gates (i, f, g', o).
NPYFLOW_KERNEL void update_cell_state(const float* gates, float* c, std::uint64_t rows, std::uint64_t h) {
    for (std::uint64_t r = 0; r < rows; ++r) {
        const float* __restrict i = gates + r * 4 * h;
        const float* __restrict f = i + h;
        const float* __restrict g = i + 2 * h;
        float* __restrict cr = c + r * h;
        for (std::uint64_t k = 0; k < h; ++k) cr[k] = f[k] * cr[k] + i[k] * (2.0f * g[k] - 1.0f);
    }
}

// h = o * tanh(c) of each row, to `out` (row stride out_stride) and `next` (row stride next_stride).
NPYFLOW_KERNEL void emit_hidden_state(const float* gates, const float* tanh_c, std::uint64_t rows, std::uint64_t h,
                                      float* out, std::uint64_t out_stride, float* next, std::uint64_t next_stride) {
    for (std::uint64_t r = 0; r < rows; ++r) {
        const float* __restrict o = gates + r * 4 * h + 3 * h;
        const float* __restrict tc = tanh_c + r * h;
        float* __restrict to = out + r * out_stride;
        float* __restrict again = next + r * next_stride;
        for (std::uint64_t k = 0; k < h; ++k) {
            to[k] = o[k] * tc[k];
            again[k] = to[k];
        }
    }
}

// One direction of one stacked layer, on one thread's micro-batch: the buffers the host steps
// read and write, found through their memories (the input's handle is set for every run).
struct direction_state {
    std::uint64_t rows, steps, in, hidden, out_width, out_offset;
    dnnl::memory src, dst;              // (rows, T, in), (rows, T, out_width)
    dnnl::memory xh, gates, c, tanh_c;  // (rows, in + hidden), (rows, 4 hidden), (rows, hidden) x 2

    static float* data(const dnnl::memory& m) { return static_cast<float*>(m.get_data_handle()); }

    // x_t into the [x, h] rows.
    void load_input(std::uint64_t t) const {
        const float* x = data(src);
        float* to = data(xh);
        for (std::uint64_t r = 0; r < rows; ++r) {
            std::memcpy(to + r * (in + hidden), x + (r * steps + t) * in, in * sizeof(float));
        }
    }
    void start(std::uint64_t first_t) const {
        std::fill_n(data(c), rows * hidden, 0.0f);
        for (std::uint64_t r = 0; r < rows; ++r) std::fill_n(data(xh) + r * (in + hidden) + in, hidden, 0.0f);
        load_input(first_t);
    }
    void update_cell() const { update_cell_state(data(gates), data(c), rows, hidden); }
    // h_t = o * tanh(c_t), to the output at step t and to [x, h]; then x of the next step.
    void emit_hidden(std::uint64_t t, std::optional<std::uint64_t> next_t) const {
        emit_hidden_state(data(gates), data(tanh_c), rows, hidden, data(dst) + t * out_width + out_offset,
                          steps * out_width, data(xh) + in, in + hidden);
        if (next_t) load_input(*next_t);
    }
};

// Adds one direction's steps, reading `src` and writing its part of `dst`.
void lower_direction(lowering_context& ctx, const node& n, const std::string& role, bool reverse,
                     const dnnl::memory& src, const dnnl::memory& dst, std::uint64_t in, std::uint64_t out_offset) {
    const layer_spec& s = n.layer->spec;
    const std::uint64_t t_count = n.layer->in[0][0], h = *s.out_features, rows = ctx.rows();
    const dnnl::memory::desc xh_md(to_dims({rows, in + h}), dt::f32, tag::ab);
    const dnnl::memory::desc gates_md(to_dims({rows, 4 * h}), dt::f32, tag::ab);
    const dnnl::memory::desc state_md(to_dims({rows, h}), dt::f32, tag::ab);
    const dnnl::memory::desc weights_user(to_dims({in + h, 4 * h}), dt::f32, tag::ab);
    const dnnl::memory::desc weights_any(to_dims({in + h, 4 * h}), dt::f32, tag::any);
    const dnnl::memory::desc bias_md(to_dims({1, 4 * h}), dt::f32, tag::ab);

    dnnl::post_ops sigmoid;
    sigmoid.append_eltwise(1.0f, dnnl::algorithm::eltwise_logistic, 0.0f, 0.0f);
    dnnl::primitive_attr attr = ctx.plain_attr();
    attr.set_post_ops(sigmoid);
    const auto product = s.bias ? dnnl::matmul::desc(xh_md, weights_any, bias_md, gates_md)
                                : dnnl::matmul::desc(xh_md, weights_any, gates_md);
    const dnnl::matmul::primitive_desc product_pd(product, attr, ctx.engine());
    const dnnl::eltwise_forward::primitive_desc tanh_pd(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_tanh, state_md, 0.0f,
                                    0.0f),
        ctx.plain_attr(), ctx.engine());

    auto state = std::make_shared<direction_state>(direction_state{
        .rows = rows, .steps = t_count, .in = in, .hidden = h, .out_width = h * (s.bidirectional ? 2 : 1),
        .out_offset = out_offset, .src = src, .dst = dst, .xh = ctx.new_memory(xh_md),
        .gates = ctx.new_memory(gates_md), .c = ctx.new_memory(state_md), .tanh_c = ctx.new_memory(state_md)});
    std::unordered_map<int, dnnl::memory> product_args{
        {DNNL_ARG_SRC, state->xh},
        {DNNL_ARG_WEIGHTS, ctx.weights(n, "weights_" + role, weights_user, product_pd.weights_desc())},
        {DNNL_ARG_DST, state->gates}};
    if (s.bias) product_args[DNNL_ARG_BIAS] = ctx.constant(n.params.at("bias_" + role), bias_md);
    const dnnl::matmul product_prim(product_pd);
    const dnnl::eltwise_forward tanh_prim(tanh_pd);

    auto time_of = [&](std::uint64_t step) { return reverse ? t_count - 1 - step : step; };
    ctx.add_host([state, t = time_of(0)](std::uint64_t) { state->start(t); });
    for (std::uint64_t step = 0; step < t_count; ++step) {
        const std::uint64_t t = time_of(step);
        const auto next = step + 1 < t_count ? std::optional(time_of(step + 1)) : std::nullopt;
        ctx.add(product_prim, product_pd.scratchpad_desc(), product_args);
        ctx.add_host([state](std::uint64_t) { state->update_cell(); });
        ctx.add(tanh_prim, tanh_pd.scratchpad_desc(), {{DNNL_ARG_SRC, state->c}, {DNNL_ARG_DST, state->tanh_c}});
        ctx.add_host([state, t, next](std::uint64_t) { state->emit_hidden(t, next); });
    }
}

}  // namespace

dnnl::memory lstm_sequence(lowering_context& ctx, const node& n) {
    const layer_spec& s = n.layer->spec;
    const std::uint64_t t = n.layer->in[0][0], h = *s.out_features, dirs = s.bidirectional ? 2 : 1;
    std::uint64_t in = n.layer->in[0][1];
    dnnl::memory src = ctx.plain(n, 0);
    for (std::uint64_t layer = 0; layer < s.num_layers; ++layer) {
        const dnnl::memory dst = ctx.new_memory(ctx.plain_desc({t, h * dirs}));
        for (std::uint64_t d = 0; d < dirs; ++d) {
            lower_direction(ctx, n, fmt::format("{}{}", layer, d ? "_reverse" : ""), d == 1, src, dst, in, d * h);
        }
        src = dst;
        in = h * dirs;
    }
    return src;
}

}  // namespace npyflow
