// An lstm layer as one oneDNN matmul a time step, with the cell's update between them.
//
// Each step multiplies [x_t, h_t-1] (rows, in + hidden) by the layer's stacked weights
// (bind_lstm_layer: the input weights' rows above the recurrent ones, the g gate doubled),
// adds the bias and takes the sigmoid of every gate in the matmul's post-op; then
//   c_t = f * c_t-1 + i * (2 * g' - 1)     (2 * sigmoid(2a) - 1 is tanh(a))
//   h_t = o * tanh(c_t)                    (tanh by an eltwise primitive)
// and h_t goes both to the next step's [x, h] and on: to the next stacked layer's [x, h], which
// takes its step t right after (one-way layers), or to the layer's output sequence.
//
// Why not oneDNN's lstm primitive, as the gru uses: on the model zoo's 2-layer LSTM (T=64,
// H=128) its brgemm cell ran 17% below this on one AVX-512 core (2,890 against 3,473 rows/s),
// and the model stayed under 1.2x ONNX Runtime (docs/performance.md). One product with
// K = in + hidden keeps the weights in cache and the output tile in registers for twice the
// work, where oneDNN's cell makes two: the input part for every step at once (for 64 rows,
// 8 MB of gates through memory), then the recurrence.
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

// Rows of floats in a memory, a time step each: step t of row r at
// offset + r * row_stride + t * step_stride (step_stride 0: the same place every step).
struct strided_rows {
    dnnl::memory memory;
    std::uint64_t offset = 0, row_stride = 0, step_stride = 0;
    float* at(std::uint64_t t) const { return static_cast<float*>(memory.get_data_handle()) + offset + t * step_stride; }
};

// One direction of one stacked layer on one thread's micro-batch: its buffers, and what the
// host steps do with them. Memories are read for their handles at each run (the model's
// input is a view whose handle is set for every micro-batch).
struct cell_state {
    std::uint64_t rows, in, hidden;
    std::optional<strided_rows> input;  // copied into [x, h] before each step; none: another cell writes it there
    strided_rows output;                // where h_t goes, besides [x, h]
    dnnl::memory xh, gates, c, tanh_c;  // (rows, in + hidden), (rows, 4 hidden), (rows, hidden) x 2

    static float* data(const dnnl::memory& m) { return static_cast<float*>(m.get_data_handle()); }

    void load_input(std::uint64_t t) const {
        if (!input) return;
        const float* x = input->at(t);
        float* to = data(xh);
        for (std::uint64_t r = 0; r < rows; ++r) std::memcpy(to + r * (in + hidden), x + r * input->row_stride, in * sizeof(float));
    }
    // Zero state, and x of the first step.
    void start(std::uint64_t first_t) const {
        std::fill_n(data(c), rows * hidden, 0.0f);
        for (std::uint64_t r = 0; r < rows; ++r) std::fill_n(data(xh) + r * (in + hidden) + in, hidden, 0.0f);
        load_input(first_t);
    }
    void update_cell() const { update_cell_state(data(gates), data(c), rows, hidden); }
    // h_t = o * tanh(c_t), to the output and to [x, h]; then x of the next step.
    void emit_hidden(std::uint64_t t, std::optional<std::uint64_t> next_t) const {
        emit_hidden_state(data(gates), data(tanh_c), rows, hidden, output.at(t), output.row_stride, data(xh) + in,
                          in + hidden);
        if (next_t) load_input(*next_t);
    }
};

// A cell's state and the primitives of its steps.
struct cell {
    std::shared_ptr<cell_state> state;
    dnnl::matmul product;
    dnnl::memory::desc product_scratchpad;
    std::unordered_map<int, dnnl::memory> product_args;
    dnnl::eltwise_forward tanh;
    dnnl::memory::desc tanh_scratchpad;
};

// The cell of one direction (weights `role`) of a layer reading `in` features; its input
// and output are set by the caller.
cell make_cell(lowering_context& ctx, const node& n, const std::string& role, std::uint64_t in) {
    const layer_spec& s = n.layer->spec;
    const std::uint64_t h = *s.out_features, rows = ctx.rows();
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

    cell c{.state = std::make_shared<cell_state>(cell_state{
               .rows = rows, .in = in, .hidden = h, .input = std::nullopt, .output = {}, .xh = ctx.new_memory(xh_md),
               .gates = ctx.new_memory(gates_md), .c = ctx.new_memory(state_md), .tanh_c = ctx.new_memory(state_md)}),
           .product = dnnl::matmul(product_pd),
           .product_scratchpad = product_pd.scratchpad_desc(),
           .product_args = {},
           .tanh = dnnl::eltwise_forward(tanh_pd),
           .tanh_scratchpad = tanh_pd.scratchpad_desc()};
    c.product_args = {{DNNL_ARG_SRC, c.state->xh},
                      {DNNL_ARG_WEIGHTS, ctx.weights(n, "weights_" + role, weights_user, product_pd.weights_desc())},
                      {DNNL_ARG_DST, c.state->gates}};
    if (s.bias) c.product_args[DNNL_ARG_BIAS] = ctx.constant(n.params.at("bias_" + role), bias_md);
    return c;
}

void add_start(lowering_context& ctx, const cell& c, std::uint64_t first_t) {
    ctx.add_host([state = c.state, first_t](std::uint64_t) { state->start(first_t); });
}

// Step t of the cell; next_t: the step after it, whose input it then loads.
void add_step(lowering_context& ctx, const cell& c, std::uint64_t t, std::optional<std::uint64_t> next_t) {
    ctx.add(c.product, c.product_scratchpad, c.product_args);
    ctx.add_host([state = c.state](std::uint64_t) { state->update_cell(); });
    ctx.add(c.tanh, c.tanh_scratchpad, {{DNNL_ARG_SRC, c.state->c}, {DNNL_ARG_DST, c.state->tanh_c}});
    ctx.add_host([state = c.state, t, next_t](std::uint64_t) { state->emit_hidden(t, next_t); });
}

}  // namespace

dnnl::memory lstm_sequence(lowering_context& ctx, const node& n) {
    const layer_spec& s = n.layer->spec;
    const std::uint64_t t_count = n.layer->in[0][0], h = *s.out_features, dirs = s.bidirectional ? 2 : 1;
    const std::uint64_t width = h * dirs;
    const std::uint64_t in = n.layer->in[0][1];
    const dnnl::memory src = ctx.plain(n, 0);
    const auto sequence = [&](const dnnl::memory& m, std::uint64_t features, std::uint64_t offset = 0) {
        return strided_rows{m, offset, t_count * features, features};
    };
    if (!s.bidirectional) {
        // Layer by layer within each step: a layer's h_t goes straight into the next layer's
        // [x, h], and only the last layer's sequence is stored.
        std::vector<cell> cells;
        for (std::uint64_t layer = 0; layer < s.num_layers; ++layer) {
            cells.push_back(make_cell(ctx, n, fmt::format("{}", layer), layer ? h : in));
        }
        const dnnl::memory dst = ctx.new_memory(ctx.plain_desc({t_count, h}));
        cells.front().state->input = sequence(src, in);
        for (std::size_t k = 0; k + 1 < cells.size(); ++k) {
            const cell_state& next = *cells[k + 1].state;
            cells[k].state->output = {next.xh, 0, next.in + next.hidden, 0};
        }
        cells.back().state->output = sequence(dst, h);
        for (const auto& c : cells) add_start(ctx, c, 0);
        for (std::uint64_t t = 0; t < t_count; ++t) {
            for (const auto& c : cells) add_step(ctx, c, t, t + 1 < t_count ? std::optional(t + 1) : std::nullopt);
        }
        return dst;
    }
    // Both directions of a layer read its whole input sequence: one layer after the other.
    dnnl::memory layer_in = src;
    std::uint64_t features = in;
    for (std::uint64_t layer = 0; layer < s.num_layers; ++layer) {
        const dnnl::memory dst = ctx.new_memory(ctx.plain_desc({t_count, width}));
        for (std::uint64_t d = 0; d < dirs; ++d) {
            cell c = make_cell(ctx, n, fmt::format("{}{}", layer, d ? "_reverse" : ""), features);
            c.state->input = sequence(layer_in, features);
            c.state->output = sequence(dst, width, d * h);
            const auto time_of = [&](std::uint64_t step) { return d ? t_count - 1 - step : step; };
            add_start(ctx, c, time_of(0));
            for (std::uint64_t step = 0; step < t_count; ++step) {
                add_step(ctx, c, time_of(step), step + 1 < t_count ? std::optional(time_of(step + 1)) : std::nullopt);
            }
        }
        layer_in = dst;
        features = width;
    }
    return layer_in;
}

}  // namespace npyflow
