// lstm and gru on (T, F) samples (batch first), as PyTorch's nn.LSTM / nn.GRU and Keras's
// LSTM / GRU compute them. A gru runs in oneDNN's RNN primitives, one per stacked layer, both
// directions in one (bidirectional_concat, forward first as PyTorch concatenates them); an
// lstm in one matmul a time step (lstm_steps.cpp, which says why).
//
// Arrays, per layer k (and direction, "_reverse" in torch):
//   torch: weight_ih_l{k} (G*H, I), weight_hh_l{k} (G*H, H), bias_ih_l{k}, bias_hh_l{k} (G*H);
//          gates i,f,g,o (lstm), r,z,n (gru: the "linear before reset" form).
//   keras: kernel (I, G*H), recurrent_kernel (H, G*H), bias (G*H), or (2, 3H) for a gru with
//          reset_after (Keras 2's default; bias row 0 for the input, row 1 for the recurrence);
//          gates i,f,c,o (lstm), z,r,h (gru). A Bidirectional layer's directions are scopes
//          below its name: "bidirectional/forward_lstm/lstm_cell/kernel:0", "backward_...".
// Binding rearranges them once, into oneDNN's gate order: lstm i,f,c,o; gru u,r,o (u is
// torch's z), and the linear-before-reset gru a fourth bias, the recurrence's candidate bias;
// and into the layouts each lowering multiplies (bind_lstm_layer, bind_gru_layer). A gate order
// that the shapes cannot show (every gate block is the same size) is why the order is fixed
// by the layout; docs/model-spec.md has the table and tests/nn proves each.
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"
#include "npyflow/nn/layers/lstm_steps.hpp"

namespace npyflow {
namespace {

bool is_lstm(const layer_spec& s) { return s.kind == layer_kind::lstm; }
// oneDNN's cell: lbr_gru for PyTorch's gru and Keras's reset_after; vanilla gru otherwise.
bool linear_before_reset(const layer_spec& s) { return s.kind == layer_kind::gru && s.reset_after; }
std::uint64_t gates(const layer_spec& s) { return is_lstm(s) ? 4 : 3; }
std::uint64_t directions(const layer_spec& s) { return s.bidirectional ? 2 : 1; }

void parse_recurrent(option_reader& r, layer_spec& l) {
    l.in_features = r.positive({"input_size"});
    l.out_features = r.positive({"hidden_size", "units"});
    if (!l.out_features) throw error(r.keras() ? "needs 'units'" : "needs 'hidden_size'");
    if (auto n = r.positive({"num_layers"})) l.num_layers = *n;
    if (auto b = r.boolean({"bidirectional"})) l.bidirectional = *b;
    if (auto b = r.boolean({"bias", "use_bias"})) l.bias = *b;
    // PyTorch's module returns every step; a Keras layer the last unless told otherwise.
    l.return_sequences = r.boolean({"return_sequences"}).value_or(!r.keras());
    if (!r.boolean({"batch_first"}).value_or(true)) {
        throw error("'batch_first' false: npyflow's samples are (T, F) with rows as the batch; set it true");
    }
    if (const auto p = r.integer({"proj_size"}); p && *p != 0) throw error("'proj_size' is not supported");
    if (r.boolean({"go_backwards"}).value_or(false)) throw error("'go_backwards' true is not supported");
    if (r.boolean({"return_state"}).value_or(false)) throw error("'return_state' true is not supported");
    for (const auto& [key, want] : {std::pair{"activation", "tanh"}, std::pair{"recurrent_activation", "sigmoid"}}) {
        if (const nlohmann::json* v = r.take({key}); v && *v != want) {
            throw error(fmt::format("'{}' {}: npyflow runs the standard cell ({})", key, v->dump(), want));
        }
    }
    if (l.kind == layer_kind::gru) {
        if (auto b = r.boolean({"reset_after"})) {
            if (!r.keras()) throw error("'reset_after' is Keras's option; PyTorch's gru always resets after");
            l.reset_after = *b;
        }
    }
    r.ignore({"dropout", "recurrent_dropout", "unroll", "stateful"});  // training only, or no effect on results
    if (r.keras() && l.num_layers != 1) {
        throw error("'num_layers' in the keras layout: Keras stacks recurrent layers one by one; list each as a layer");
    }
    if (const nlohmann::json* v = r.take({"merge_mode"}); v && *v != "concat") {
        throw error(fmt::format("'merge_mode' {}: npyflow concatenates the two directions, forward first (Keras's "
                                "\"concat\", PyTorch's output)",
                                v->dump()));
    }
    l.keras_last_output = r.keras();
    if (l.num_layers > 64) throw error(fmt::format("'num_layers' is {}, more than the 64 npyflow accepts", l.num_layers));
}

// Source gate index for each of oneDNN's gates.
std::vector<std::uint64_t> gate_order(const layer_spec& s, bool torch) {
    if (is_lstm(s)) return {0, 1, 2, 3};           // i, f, c, o in every framework
    return torch ? std::vector<std::uint64_t>{1, 0, 2}   // u, r, o from torch's r, z, n
                 : std::vector<std::uint64_t>{0, 1, 2};  // from keras's z, r, h
}

struct direction_arrays {
    bound_tensor input, recurrent;                 // as stored
    std::optional<bound_tensor> input_bias, recurrent_bias;  // torch: both; keras: input_bias holds "bias"
};

// Copies one direction's weight into ldigo order: dst[(i * G + g) * H + h] from the
// framework's gate blocks, src element (row = gate block + h, column = i) in torch, (i, block + h) in keras.
void place_weights(const bound_tensor& w, bool torch, const std::vector<std::uint64_t>& order, std::uint64_t in,
                   std::uint64_t h, float* dst) {
    const std::uint64_t g_count = order.size();
    for (std::uint64_t i = 0; i < in; ++i) {
        for (std::uint64_t g = 0; g < g_count; ++g) {
            for (std::uint64_t k = 0; k < h; ++k) {
                const std::uint64_t row = order[g] * h + k;
                dst[(i * g_count + g) * h + k] = torch ? w.values[row * in + i] : w.values[i * g_count * h + row];
            }
        }
    }
}

// One direction's bias in oneDNN's gate order: torch's bias_ih + bias_hh, keras's one row or
// reset_after's input and recurrent rows; the linear-before-reset gru keeps the candidate's
// recurrent bias apart, as a fourth gate.
void place_bias(const layer_spec& s, const direction_arrays& a, bool torch, const std::vector<std::uint64_t>& order,
                std::uint64_t h, float* dst) {
    const std::uint64_t g = order.size();
    const bool two_rows = !torch && linear_before_reset(s);
    for (std::uint64_t gate = 0; gate < g; ++gate) {
        for (std::uint64_t k = 0; k < h; ++k) {
            const std::uint64_t src = order[gate] * h + k;
            const float input_part = a.input_bias->values[src];
            const float recurrent_part = torch      ? a.recurrent_bias->values[src]
                                         : two_rows ? a.input_bias->values[g * h + src]
                                                    : 0.0f;
            const bool apart = linear_before_reset(s) && gate == 2;
            dst[gate * h + k] = input_part + (apart ? 0.0f : recurrent_part);
            if (apart) dst[3 * h + k] = recurrent_part;
        }
    }
}

// An lstm layer's arrays as its lowering (lstm_steps.cpp) multiplies them: per direction one
// (in + hidden, 4*hidden) matrix, the input weights' rows above the recurrent ones, so that
// [x_t, h_t-1] times it gives every gate in one product; gates i,f,g,o. The g gate's columns
// and bias are doubled: the lowering takes one sigmoid of every gate and gets tanh(a) as
// 2*sigmoid(2a) - 1.
void bind_lstm_layer(bound_layer& b, std::uint64_t layer, const std::vector<direction_arrays>& found, bool torch,
                     std::uint64_t in, std::uint64_t h) {
    const layer_spec& s = b.spec;
    const auto order = gate_order(s, torch);
    const std::uint64_t width = order.size() * h;
    for (std::uint64_t d = 0; d < found.size(); ++d) {
        std::vector<float> w((in + h) * width), bias(width, 0.0f);
        place_weights(found[d].input, torch, order, in, h, w.data());
        place_weights(found[d].recurrent, torch, order, h, h, w.data() + in * width);
        if (s.bias) place_bias(s, found[d], torch, order, h, bias.data());
        for (std::uint64_t row = 0; row < in + h; ++row) {
            for (std::uint64_t k = 0; k < h; ++k) w[row * width + 2 * h + k] *= 2.0f;
        }
        for (std::uint64_t k = 0; k < h; ++k) bias[2 * h + k] *= 2.0f;
        const std::string role = fmt::format("{}{}", layer, d ? "_reverse" : "");
        const std::string name = s.name + fmt::format(" layer {}", layer);
        b.params["weights_" + role] = make_tensor({in + h, width}, std::move(w), name);
        b.params["bias_" + role] = make_tensor({width}, std::move(bias), name);
    }
}

// A gru layer's arrays in the layouts of oneDNN's gru primitives: weights (1, D, I, G, H)
// "ldigo", bias (1, D, G', H) "ldgo".
void bind_gru_layer(bound_layer& b, std::uint64_t layer, const std::vector<direction_arrays>& found, bool torch,
                    std::uint64_t in, std::uint64_t h) {
    const layer_spec& s = b.spec;
    const auto order = gate_order(s, torch);
    const std::uint64_t g = gates(s), dirs = found.size(), bias_gates = linear_before_reset(s) ? 4 : g;
    std::vector<float> w_layer(dirs * in * g * h), w_iter(dirs * h * g * h), bias(dirs * bias_gates * h, 0.0f);
    for (std::uint64_t d = 0; d < dirs; ++d) {
        place_weights(found[d].input, torch, order, in, h, w_layer.data() + d * in * g * h);
        place_weights(found[d].recurrent, torch, order, h, h, w_iter.data() + d * h * g * h);
        if (s.bias) place_bias(s, found[d], torch, order, h, bias.data() + d * bias_gates * h);
    }
    const std::string name = s.name + fmt::format(" layer {}", layer);
    b.params[fmt::format("weights_layer_{}", layer)] = make_tensor({1, dirs, in, g, h}, std::move(w_layer), name);
    b.params[fmt::format("weights_iter_{}", layer)] = make_tensor({1, dirs, h, g, h}, std::move(w_iter), name);
    b.params[fmt::format("bias_{}", layer)] = make_tensor({1, dirs, bias_gates, h}, std::move(bias), name);
}

bool bind_recurrent(binding_context& ctx, bound_layer& b) {
    const auto& s = b.spec;
    const tensor_shape& x = b.in[0];
    if (x.size() != 2) {
        return ctx.problem(fmt::format("needs (T, features) input, got {}", format_shape(x)));
    }
    if (!check_stated_input(ctx, b, x[1], "input_size")) return false;
    const bool torch = ctx.torch();
    const std::uint64_t h = *s.out_features, g = gates(s), dirs = directions(s), t = x[0];
    std::uint64_t in = x[1];
    bool ok = true;
    for (std::uint64_t layer = 0; layer < s.num_layers; ++layer) {
        // Every array of the layer fetched and its shape checked before anything is allocated
        // for it: the sizes are then those of arrays that exist.
        std::vector<direction_arrays> found(dirs);
        for (std::uint64_t d = 0; d < dirs; ++d) {
            const std::string suffix = torch ? fmt::format("_l{}{}", layer, d ? "_reverse" : "") : d ? "_reverse" : "";
            // Keras: a Bidirectional layer's arrays are found in its forward_ and backward_ scopes.
            const std::string scope = torch || dirs == 1 ? "" : d ? "backward/" : "forward/";
            const char* what = torch ? "(gates*hidden, in)" : "(in, gates*hidden)";
            auto wi = ctx.fetch("weight_ih" + suffix, torch ? "weight_ih" + suffix : scope + "kernel", saturating_product({in, g, h}));
            auto wh = ctx.fetch("weight_hh" + suffix, torch ? "weight_hh" + suffix : scope + "recurrent_kernel", saturating_product({h, g, h}));
            const std::vector<std::uint64_t> wi_shape = torch ? tensor_shape{g * h, in} : tensor_shape{in, g * h};
            const std::vector<std::uint64_t> wh_shape = torch ? tensor_shape{g * h, h} : tensor_shape{h, g * h};
            ok = wi && ctx.check_shape(*wi, wi_shape, what,
                                       wi->shape == (torch ? tensor_shape{in, g * h} : tensor_shape{g * h, in})
                                           ? (torch ? "looks like Keras (in, gates*hidden); set \"layout\": \"keras\""
                                                    : "looks like PyTorch (gates*hidden, in); set \"layout\": \"torch\"")
                                           : "") && ok;
            ok = wh && ctx.check_shape(*wh, wh_shape, torch ? "(gates*hidden, hidden)" : "(hidden, gates*hidden)") && ok;
            if (wi) refuse_if_ambiguous(ctx, *wi, false, "(gates*hidden, in)", "(in, gates*hidden)");
            if (wi) found[d].input = *wi;
            if (wh) found[d].recurrent = *wh;
            if (!s.bias) continue;
            if (torch) {
                auto bi = ctx.fetch("bias_ih" + suffix, "bias_ih" + suffix, saturating_product({g, h}));
                auto bh = ctx.fetch("bias_hh" + suffix, "bias_hh" + suffix, saturating_product({g, h}));
                ok = bi && ctx.check_shape(*bi, {g * h}, "(gates*hidden,)") && ok;
                ok = bh && ctx.check_shape(*bh, {g * h}, "(gates*hidden,)") && ok;
                found[d].input_bias = bi;
                found[d].recurrent_bias = bh;
            } else {
                const bool two_rows = linear_before_reset(s);
                auto bk = ctx.fetch("bias" + suffix, scope + "bias", saturating_product({two_rows ? 2u : 1u, g, h}));
                const tensor_shape want = two_rows ? tensor_shape{2, g * h} : tensor_shape{g * h};
                ok = bk && ctx.check_shape(*bk, want, two_rows ? "(2, gates*hidden): reset_after" : "(gates*hidden,)",
                                           two_rows && bk->shape == tensor_shape{g * h}
                                               ? "a one-row bias is a gru with \"reset_after\": false"
                                               : "") && ok;
                found[d].input_bias = bk;
            }
        }
        if (!ok) break;
        if (is_lstm(s)) {
            bind_lstm_layer(b, layer, found, torch, in, h);
        } else {
            bind_gru_layer(b, layer, found, torch, in, h);
        }
        in = h * dirs;
    }
    b.out = s.return_sequences ? tensor_shape{t, h * dirs} : tensor_shape{h * dirs};
    return fits_in_memory(ctx, {t, h * dirs}) && ok;
}

// The gru's output sequence (rows, T, H*D), from oneDNN's gru primitives, one per stacked layer.
dnnl::memory gru_sequence(lowering_context& ctx, const node& n) {
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    const layer_spec& s = n.layer->spec;
    const std::uint64_t t = n.layer->in[0][0], h = *s.out_features, g = gates(s), dirs = directions(s);
    const std::uint64_t rows = ctx.rows(), bias_gates = linear_before_reset(s) ? 4 : g;
    const auto direction = s.bidirectional ? dnnl::rnn_direction::bidirectional_concat
                                           : dnnl::rnn_direction::unidirectional_left2right;
    const auto prop = dnnl::prop_kind::forward_inference;
    std::uint64_t in = n.layer->in[0][1];
    // Batch-first (rows, T, C) memory is oneDNN's "ntc" of dims (T, rows, C).
    dnnl::memory src = ctx.view(ctx.plain(n, 0), dnnl::memory::desc(to_dims({t, rows, in}), dt::f32, tag::ntc));
    const dnnl::memory::desc none;  // zero initial states; final states not kept
    for (std::uint64_t layer = 0; layer < s.num_layers; ++layer) {
        const dnnl::memory::desc src_md = src.get_desc();
        const dnnl::memory::desc dst_md(to_dims({t, rows, h * dirs}), dt::f32, tag::ntc);
        const auto w_layer_any = dnnl::memory::desc(to_dims({1, dirs, in, g, h}), dt::f32, tag::any);
        const auto w_iter_any = dnnl::memory::desc(to_dims({1, dirs, h, g, h}), dt::f32, tag::any);
        const dnnl::memory::desc bias_md(to_dims({1, dirs, bias_gates, h}), dt::f32, tag::ldgo);
        const dnnl::memory::desc w_layer_user(to_dims({1, dirs, in, g, h}), dt::f32, tag::ldigo);
        const dnnl::memory::desc w_iter_user(to_dims({1, dirs, h, g, h}), dt::f32, tag::ldigo);
        dnnl::primitive prim;
        dnnl::memory::desc w_layer_md, w_iter_md, scratchpad;
        if (linear_before_reset(s)) {
            const dnnl::lbr_gru_forward::desc desc(prop, direction, src_md, none, w_layer_any, w_iter_any, bias_md,
                                                   dst_md, none);
            const dnnl::lbr_gru_forward::primitive_desc pd(desc, ctx.plain_attr(), ctx.engine());
            prim = dnnl::lbr_gru_forward(pd);
            w_layer_md = pd.weights_layer_desc(), w_iter_md = pd.weights_iter_desc(), scratchpad = pd.scratchpad_desc();
        } else {
            const dnnl::gru_forward::desc desc(prop, direction, src_md, none, w_layer_any, w_iter_any, bias_md, dst_md,
                                               none);
            const dnnl::gru_forward::primitive_desc pd(desc, ctx.plain_attr(), ctx.engine());
            prim = dnnl::gru_forward(pd);
            w_layer_md = pd.weights_layer_desc(), w_iter_md = pd.weights_iter_desc(), scratchpad = pd.scratchpad_desc();
        }
        dnnl::memory dst = ctx.new_memory(dst_md);
        ctx.add(prim, scratchpad,
                {{DNNL_ARG_SRC_LAYER, src},
                 {DNNL_ARG_WEIGHTS_LAYER, ctx.weights(n, fmt::format("weights_layer_{}", layer), w_layer_user, w_layer_md)},
                 {DNNL_ARG_WEIGHTS_ITER, ctx.weights(n, fmt::format("weights_iter_{}", layer), w_iter_user, w_iter_md)},
                 {DNNL_ARG_BIAS, ctx.constant(n.params.at(fmt::format("bias_{}", layer)), bias_md)},
                 {DNNL_ARG_DST_LAYER, dst}});
        src = dst;
        in = h * dirs;
    }
    return src;
}

void lower_recurrent(lowering_context& ctx, const node& n) {
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    const layer_spec& s = n.layer->spec;
    const std::uint64_t t = n.layer->in[0][0], h = *s.out_features, dirs = directions(s), rows = ctx.rows();
    const dnnl::memory src = is_lstm(s) ? lstm_sequence(ctx, n) : gru_sequence(ctx, n);
    const tensor_shape sequence{t, h * dirs};
    const dnnl::memory all = ctx.view(src, ctx.plain_desc(sequence));
    if (s.return_sequences) {
        ctx.output(n, all, false);
        return;
    }
    const dnnl::memory::desc flat(to_dims({rows, 1, h * dirs}), dt::f32, tag::abc);
    if (s.bidirectional && s.keras_last_output) {
        // Keras's Bidirectional: the forward direction's last step, and the backward one's
        // last, which is step 0 of the sequence it read from the end.
        const dnnl::memory picked = ctx.new_memory(flat);
        for (const std::uint64_t d : {0u, 1u}) {
            const auto from = all.get_desc().submemory_desc(to_dims({rows, 1, h}), to_dims({0, d ? 0 : t - 1, d * h}));
            const auto to = flat.submemory_desc(to_dims({rows, 1, h}), to_dims({0, 0, d * h}));
            const dnnl::reorder::primitive_desc pd(ctx.engine(), from, ctx.engine(), to, ctx.plain_attr());
            ctx.add(dnnl::reorder(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_FROM, dnnl::memory(from, ctx.engine(), all.get_data_handle())},
                     {DNNL_ARG_TO, dnnl::memory(to, ctx.engine(), picked.get_data_handle())}});
        }
        ctx.output(n, ctx.view(picked, ctx.plain_desc(n.out)), false);
        return;
    }
    // output[:, -1, :]: the last time step of every row, as PyTorch's output[:, -1, :] (Keras's
    // last output for a one-way layer).
    const dnnl::memory::desc last = all.get_desc().submemory_desc(to_dims({rows, 1, h * dirs}), to_dims({0, t - 1, 0}));
    const dnnl::memory picked = ctx.reorder(dnnl::memory(last, ctx.engine(), all.get_data_handle()), flat);
    ctx.output(n, ctx.view(picked, ctx.plain_desc(n.out)), false);
}

double recurrent_flops(const bound_layer& l) {
    const auto& s = l.spec;
    const double t = double(l.in[0][0]), h = double(*s.out_features), g = double(gates(s)), d = double(directions(s));
    double flops = 0, in = double(l.in[0][1]);
    for (std::uint64_t layer = 0; layer < s.num_layers; ++layer, in = h * d) flops += 2.0 * t * d * g * h * (in + h);
    return flops;
}

}  // namespace

extern const layer_descriptor lstm_layer{
    .kind = layer_kind::lstm, .name = "lstm", .alias = nullptr, .has_weights = true, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_recurrent, .bind = bind_recurrent, .lower = lower_recurrent,
    .flops = recurrent_flops};
extern const layer_descriptor gru_layer{
    .kind = layer_kind::gru, .name = "gru", .alias = nullptr, .has_weights = true, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_recurrent, .bind = bind_recurrent, .lower = lower_recurrent,
    .flops = recurrent_flops};

}  // namespace npyflow
