// The gate orders of lstm and gru, proven against the frameworks' equations: PyTorch's
// arrays run as they are (torch layout), and the same weights rearranged the way Keras stores
// them (transposed, gates z,r,h, one bias or reset_after's two rows) give the same outputs.
// Every gate block has the same shape, so a wrong order would bind without complaint: only
// values tell, and each weight here is distinct.
#include <catch2/catch.hpp>

#include <cmath>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "tests/nn/nn_test_support.hpp"
#include "tests/test_support.hpp"

namespace npyflow::test {
namespace {

constexpr std::uint64_t T = 3, I = 2, H = 2;

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Distinct, modest values: w[k] = sin(seed + 1.7 k) / 2.
std::vector<float> values(std::size_t n, float seed) {
    std::vector<float> v(n);
    for (std::size_t k = 0; k < n; ++k) v[k] = std::sin(seed + 1.7f * static_cast<float>(k)) / 2;
    return v;
}

struct torch_rnn {
    std::uint64_t gates;
    std::vector<float> w_ih, w_hh, b_ih, b_hh;  // (G*H, in), (G*H, H), (G*H), (G*H)
    std::uint64_t in = I;
};

torch_rnn make_rnn(std::uint64_t gates, float seed = 0, std::uint64_t in = I) {
    return {gates, values(gates * H * in, 0.3f + seed), values(gates * H * H, 1.1f + seed),
            values(gates * H, 2.3f + seed), values(gates * H, 3.7f + seed), in};
}

// (W x)[gate block g] for a (G*H, n) matrix.
float dot(const std::vector<float>& w, std::uint64_t row, const float* x, std::uint64_t n) {
    float s = 0;
    for (std::uint64_t k = 0; k < n; ++k) s += w[row * n + k] * x[k];
    return s;
}

// PyTorch's nn.LSTM and nn.GRU (batch_first, zero initial state), every time step's output.
std::vector<float> torch_reference(const torch_rnn& r, const std::vector<float>& x) {
    std::vector<float> h(H, 0), c(H, 0), out;
    for (std::uint64_t t = 0; t < T; ++t) {
        const float* xt = x.data() + t * r.in;
        std::vector<float> next(H);
        for (std::uint64_t k = 0; k < H; ++k) {
            auto pre_i = [&](std::uint64_t g) { return dot(r.w_ih, g * H + k, xt, r.in) + r.b_ih[g * H + k]; };
            auto pre_h = [&](std::uint64_t g) { return dot(r.w_hh, g * H + k, h.data(), H) + r.b_hh[g * H + k]; };
            if (r.gates == 4) {  // i, f, g, o
                const float i = sigmoid(pre_i(0) + pre_h(0)), f = sigmoid(pre_i(1) + pre_h(1));
                const float g = std::tanh(pre_i(2) + pre_h(2)), o = sigmoid(pre_i(3) + pre_h(3));
                c[k] = f * c[k] + i * g;
                next[k] = o * std::tanh(c[k]);
            } else {  // r, z, n
                const float rr = sigmoid(pre_i(0) + pre_h(0)), z = sigmoid(pre_i(1) + pre_h(1));
                const float n = std::tanh(pre_i(2) + rr * pre_h(2));
                next[k] = (1 - z) * n + z * h[k];
            }
        }
        h = next;
        out.insert(out.end(), h.begin(), h.end());
    }
    return out;
}

// A (G*H, n) torch matrix as Keras's (n, G*H), gate blocks taken in `order` (torch indices).
std::vector<float> to_keras(const std::vector<float>& w, std::uint64_t n, const std::vector<std::uint64_t>& order) {
    const std::uint64_t g_count = order.size();
    std::vector<float> k(n * g_count * H);
    for (std::uint64_t col = 0; col < n; ++col) {
        for (std::uint64_t g = 0; g < g_count; ++g) {
            for (std::uint64_t j = 0; j < H; ++j) k[col * g_count * H + g * H + j] = w[(order[g] * H + j) * n + col];
        }
    }
    return k;
}

std::vector<float> reorder_blocks(const std::vector<float>& b, const std::vector<std::uint64_t>& order) {
    std::vector<float> out;
    for (auto g : order) out.insert(out.end(), b.begin() + static_cast<long>(g * H), b.begin() + static_cast<long>((g + 1) * H));
    return out;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t k = 0; k < got.size(); ++k) REQUIRE(got[k] == Approx(want[k]).margin(1e-5));
}

const std::vector<float> input = values(T * I, 5.9f);

std::string rnn_spec(const char* layout, const char* type, const char* extra = "") {
    return fmt::format(R"({{"layout": "{}", "input": {{"shape": [{}, {}]}}, "layers": [{{"type": "{}", "name": "rnn",
        "hidden_size": {}, "return_sequences": true {}}}]}})",
                       layout, T, I, type, H, extra);
}

}  // namespace

TEST_CASE("nn.recurrent.lstm_gate_order_torch_and_keras", "[nn]") {
    const torch_rnn r = make_rnn(4);
    const auto want = torch_reference(r, input);
    scratch_dir dir;
    save_weights(dir / "torch", {{"rnn.weight_ih_l0", {{4 * H, I}, r.w_ih}}, {"rnn.weight_hh_l0", {{4 * H, H}, r.w_hh}},
                                 {"rnn.bias_ih_l0", {{4 * H}, r.b_ih}}, {"rnn.bias_hh_l0", {{4 * H}, r.b_hh}}});
    expect_close(run_network(spec_of(rnn_spec("torch", "lstm")), dir / "torch", input, 1), want);

    // Keras: i, f, c, o (torch's blocks in the same order), kernels transposed, one bias.
    const std::vector<std::uint64_t> same{0, 1, 2, 3};
    std::vector<float> bias = r.b_ih;
    for (std::size_t k = 0; k < bias.size(); ++k) bias[k] += r.b_hh[k];
    save_weights(dir / "keras", {{"rnn/kernel", {{I, 4 * H}, to_keras(r.w_ih, I, same)}},
                                 {"rnn/recurrent_kernel", {{H, 4 * H}, to_keras(r.w_hh, H, same)}},
                                 {"rnn/bias", {{4 * H}, bias}}});
    expect_close(run_network(spec_of(rnn_spec("keras", "lstm")), dir / "keras", input, 1), want);
}

TEST_CASE("nn.recurrent.gru_gate_order_torch_and_keras_reset_after", "[nn]") {
    const torch_rnn r = make_rnn(3);
    const auto want = torch_reference(r, input);
    scratch_dir dir;
    save_weights(dir / "torch", {{"rnn.weight_ih_l0", {{3 * H, I}, r.w_ih}}, {"rnn.weight_hh_l0", {{3 * H, H}, r.w_hh}},
                                 {"rnn.bias_ih_l0", {{3 * H}, r.b_ih}}, {"rnn.bias_hh_l0", {{3 * H}, r.b_hh}}});
    expect_close(run_network(spec_of(rnn_spec("torch", "gru")), dir / "torch", input, 1), want);

    // Keras: z, r, h = torch's blocks 1, 0, 2; reset_after keeps the two biases as rows.
    const std::vector<std::uint64_t> zrh{1, 0, 2};
    std::vector<float> bias = reorder_blocks(r.b_ih, zrh);
    const auto recurrent_bias = reorder_blocks(r.b_hh, zrh);
    bias.insert(bias.end(), recurrent_bias.begin(), recurrent_bias.end());
    save_weights(dir / "keras", {{"rnn/kernel", {{I, 3 * H}, to_keras(r.w_ih, I, zrh)}},
                                 {"rnn/recurrent_kernel", {{H, 3 * H}, to_keras(r.w_hh, H, zrh)}},
                                 {"rnn/bias", {{2, 3 * H}, bias}}});
    expect_close(run_network(spec_of(rnn_spec("keras", "gru")), dir / "keras", input, 1), want);

    // The same arrays in torch's r, z, n order must not match: the order is what is tested.
    const std::vector<std::uint64_t> rzn{0, 1, 2};
    bias = r.b_ih;
    bias.insert(bias.end(), r.b_hh.begin(), r.b_hh.end());
    save_weights(dir / "wrong", {{"rnn/kernel", {{I, 3 * H}, to_keras(r.w_ih, I, rzn)}},
                                 {"rnn/recurrent_kernel", {{H, 3 * H}, to_keras(r.w_hh, H, rzn)}},
                                 {"rnn/bias", {{2, 3 * H}, bias}}});
    const auto wrong = run_network(spec_of(rnn_spec("keras", "gru")), dir / "wrong", input, 1);
    double largest = 0;
    for (std::size_t k = 0; k < want.size(); ++k) largest = std::max(largest, double(std::abs(wrong[k] - want[k])));
    REQUIRE(largest > 1e-2);
}

// Keras's classic GRU (reset_after false): the reset gate applies before the recurrent kernel.
TEST_CASE("nn.recurrent.keras_gru_reset_before", "[nn]") {
    const auto kernel = values(I * 3 * H, 0.7f), recurrent = values(H * 3 * H, 1.9f), bias = values(3 * H, 4.1f);
    std::vector<float> h(H, 0), want;
    for (std::uint64_t t = 0; t < T; ++t) {
        const float* xt = input.data() + t * I;
        auto x_part = [&](std::uint64_t col) {
            float s = bias[col];
            for (std::uint64_t i = 0; i < I; ++i) s += xt[i] * kernel[i * 3 * H + col];
            return s;
        };
        auto h_part = [&](const std::vector<float>& v, std::uint64_t col) {
            float s = 0;
            for (std::uint64_t j = 0; j < H; ++j) s += v[j] * recurrent[j * 3 * H + col];
            return s;
        };
        std::vector<float> z(H), r(H), rh(H), next(H);
        for (std::uint64_t k = 0; k < H; ++k) {
            z[k] = sigmoid(x_part(k) + h_part(h, k));
            r[k] = sigmoid(x_part(H + k) + h_part(h, H + k));
            rh[k] = r[k] * h[k];
        }
        for (std::uint64_t k = 0; k < H; ++k) {
            const float candidate = std::tanh(x_part(2 * H + k) + h_part(rh, 2 * H + k));
            next[k] = z[k] * h[k] + (1 - z[k]) * candidate;
        }
        h = next;
        want.insert(want.end(), h.begin(), h.end());
    }
    scratch_dir dir;
    save_weights(dir.path(), {{"rnn/kernel", {{I, 3 * H}, kernel}}, {"rnn/recurrent_kernel", {{H, 3 * H}, recurrent}},
                              {"rnn/bias", {{3 * H}, bias}}});
    expect_close(run_network(spec_of(rnn_spec("keras", "gru", R"(, "reset_after": false)")), dir.path(), input, 1), want);
    // With a one-row bias, the default (reset_after) says what to set.
    REQUIRE_THROWS_WITH(bind_parameters(spec_of(rnn_spec("keras", "gru")), weight_source(dir.path()), false),
                        Catch::Contains("array 'rnn/bias' has shape (6,), expected (2, 6) (2, gates*hidden): "
                                        "reset_after; a one-row bias is a gru with \"reset_after\": false"));
}

TEST_CASE("nn.recurrent.last_step_and_torch_weights_in_keras_layout", "[nn]") {
    const torch_rnn r = make_rnn(4);
    const auto all = torch_reference(r, input);
    scratch_dir dir;
    save_weights(dir.path(), {{"rnn.weight_ih_l0", {{4 * H, I}, r.w_ih}}, {"rnn.weight_hh_l0", {{4 * H, H}, r.w_hh}},
                              {"rnn.bias_ih_l0", {{4 * H}, r.b_ih}}, {"rnn.bias_hh_l0", {{4 * H}, r.b_hh}}});
    const auto last = run_network(spec_of(fmt::format(R"({{"input": {{"shape": [{}, {}]}}, "layers": [{{"type": "lstm",
        "name": "rnn", "hidden_size": {}, "return_sequences": false}}]}})", T, I, H)), dir.path(), input, 1);
    expect_close(last, std::vector<float>(all.end() - H, all.end()));
    // PyTorch's (4H, I) where Keras's (I, 4H) belongs says which layout it looks like.
    save_weights(dir / "k", {{"rnn/kernel", {{4 * H, I}, r.w_ih}}, {"rnn/recurrent_kernel", {{H, 4 * H}, r.w_hh}},
                             {"rnn/bias", {{4 * H}, r.b_ih}}});
    REQUIRE_THROWS_WITH(bind_parameters(spec_of(rnn_spec("keras", "lstm")), weight_source(dir / "k"), false),
                        Catch::Contains("array 'rnn/kernel' has shape (8, 2), expected (2, 8) (in, gates*hidden); "
                                        "looks like PyTorch (gates*hidden, in); set \"layout\": \"torch\""));
}

// Keras's Bidirectional(LSTM): each direction's arrays in its scope below the wrapper's name,
// and, without return_sequences, Keras's last output (forward at step T-1, backward at step 0,
// the last it computes) where PyTorch's output[:, -1, :] takes both directions at step T-1.
TEST_CASE("nn.recurrent.keras_bidirectional_scopes_and_last_output", "[nn]") {
    const torch_rnn fwd = make_rnn(4), bwd = make_rnn(4, 0.5f);
    std::vector<float> reversed;
    for (std::uint64_t t = T; t-- > 0;) {
        reversed.insert(reversed.end(), input.begin() + static_cast<long>(t * I), input.begin() + static_cast<long>((t + 1) * I));
    }
    const auto f = torch_reference(fwd, input), b = torch_reference(bwd, reversed);  // b: in the order read
    const auto step = [&](const std::vector<float>& v, std::uint64_t t) {
        return std::vector<float>(v.begin() + static_cast<long>(t * H), v.begin() + static_cast<long>((t + 1) * H));
    };
    const auto concat = [](std::vector<float> a, const std::vector<float>& c) {
        a.insert(a.end(), c.begin(), c.end());
        return a;
    };
    std::vector<float> sequence;
    for (std::uint64_t t = 0; t < T; ++t) sequence = concat(sequence, concat(step(f, t), step(b, T - 1 - t)));

    const std::vector<std::uint64_t> same{0, 1, 2, 3};
    const auto keras_arrays = [&](const torch_rnn& r, const std::string& scope) {
        std::vector<float> bias = r.b_ih;
        for (std::size_t k = 0; k < bias.size(); ++k) bias[k] += r.b_hh[k];
        return std::map<std::string, array>{
            {scope + "/kernel:0", {{I, 4 * H}, to_keras(r.w_ih, I, same)}},
            {scope + "/recurrent_kernel:0", {{H, 4 * H}, to_keras(r.w_hh, H, same)}},
            {scope + "/bias:0", {{4 * H}, bias}}};
    };
    scratch_dir dir;
    auto arrays = keras_arrays(fwd, "bidirectional/forward_lstm/lstm_cell");
    arrays.merge(keras_arrays(bwd, "bidirectional/backward_lstm/lstm_cell"));
    save_weights(dir / "keras", arrays);
    const auto spec = [&](const char* layout, bool sequences) {
        return spec_of(fmt::format(R"({{"layout": "{}", "input": {{"shape": [{}, {}]}}, "layers": [{{"type": "lstm",
            "name": "bidirectional", "hidden_size": {}, "bidirectional": true, "return_sequences": {}}}]}})",
                                   layout, T, I, H, sequences));
    };
    expect_close(run_network(spec("keras", true), dir / "keras", input, 1), sequence);
    expect_close(run_network(spec("keras", false), dir / "keras", input, 1), concat(step(f, T - 1), step(b, T - 1)));

    // PyTorch's names for the same weights: output[:, -1, :] is the backward direction's first step.
    save_weights(dir / "torch", {{"bidirectional.weight_ih_l0", {{4 * H, I}, fwd.w_ih}},
                                 {"bidirectional.weight_hh_l0", {{4 * H, H}, fwd.w_hh}},
                                 {"bidirectional.bias_ih_l0", {{4 * H}, fwd.b_ih}},
                                 {"bidirectional.bias_hh_l0", {{4 * H}, fwd.b_hh}},
                                 {"bidirectional.weight_ih_l0_reverse", {{4 * H, I}, bwd.w_ih}},
                                 {"bidirectional.weight_hh_l0_reverse", {{4 * H, H}, bwd.w_hh}},
                                 {"bidirectional.bias_ih_l0_reverse", {{4 * H}, bwd.b_ih}},
                                 {"bidirectional.bias_hh_l0_reverse", {{4 * H}, bwd.b_hh}}});
    expect_close(run_network(spec("torch", true), dir / "torch", input, 1), sequence);
    expect_close(run_network(spec("torch", false), dir / "torch", input, 1), concat(step(f, T - 1), step(b, 0)));

    // A direction's arrays missing from its scope are named as such.
    save_weights(dir / "one_way", keras_arrays(fwd, "bidirectional/forward_lstm/lstm_cell"));
    REQUIRE_THROWS_WITH(bind_parameters(spec("keras", true), weight_source(dir / "one_way"), false),
                        Catch::Contains("missing array 'bidirectional/backward/kernel'"));
    REQUIRE_THROWS_WITH(spec_of(R"({"layout": "keras", "input": {"shape": [3, 2]}, "layers": [{"type": "lstm",
        "name": "b", "units": 2, "bidirectional": true, "merge_mode": "sum"}]})"),
                        Catch::Contains(R"('merge_mode' "sum": npyflow concatenates the two directions)"));
}

// Two stacked bidirectional layers without biases (the second reads both directions of the
// first) over 70 rows: more than one micro-batch and a padded tail. Each row equals the
// equations, and its bits are the same computed alone.
TEST_CASE("nn.recurrent.lstm_stacked_bidirectional_without_bias", "[nn]") {
    std::vector<torch_rnn> cells{make_rnn(4, 0.0f), make_rnn(4, 0.5f), make_rnn(4, 1.0f, 2 * H), make_rnn(4, 1.5f, 2 * H)};
    for (auto& c : cells) std::fill(c.b_ih.begin(), c.b_ih.end(), 0.0f), std::fill(c.b_hh.begin(), c.b_hh.end(), 0.0f);
    const auto reversed = [](const std::vector<float>& seq, std::uint64_t width) {
        std::vector<float> out;
        for (std::uint64_t t = T; t-- > 0;) {
            out.insert(out.end(), seq.begin() + static_cast<long>(t * width), seq.begin() + static_cast<long>((t + 1) * width));
        }
        return out;
    };
    const auto bidirectional = [&](const torch_rnn& f, const torch_rnn& b, const std::vector<float>& x) {
        const auto forward = torch_reference(f, x), backward = reversed(torch_reference(b, reversed(x, f.in)), H);
        std::vector<float> out;
        for (std::uint64_t t = 0; t < T; ++t) {
            out.insert(out.end(), forward.begin() + static_cast<long>(t * H), forward.begin() + static_cast<long>((t + 1) * H));
            out.insert(out.end(), backward.begin() + static_cast<long>(t * H), backward.begin() + static_cast<long>((t + 1) * H));
        }
        return out;
    };
    constexpr std::size_t rows = 70;
    std::vector<float> inputs, want;
    for (std::size_t row = 0; row < rows; ++row) {
        const auto x = values(T * I, 0.37f * static_cast<float>(row));
        const auto y = bidirectional(cells[2], cells[3], bidirectional(cells[0], cells[1], x));
        inputs.insert(inputs.end(), x.begin(), x.end());
        want.insert(want.end(), y.begin(), y.end());
    }
    scratch_dir dir;
    std::map<std::string, array> arrays;
    for (std::size_t k = 0; k < cells.size(); ++k) {
        const std::string suffix = fmt::format("_l{}{}", k / 2, k % 2 ? "_reverse" : "");
        arrays["rnn.weight_ih" + suffix] = {{4 * H, cells[k].in}, cells[k].w_ih};
        arrays["rnn.weight_hh" + suffix] = {{4 * H, H}, cells[k].w_hh};
    }
    save_weights(dir.path(), arrays);
    const auto spec = spec_of(rnn_spec("torch", "lstm", R"(, "num_layers": 2, "bidirectional": true, "bias": false)"));
    const auto all = run_network(spec, dir.path(), inputs, rows);
    expect_close(all, want);
    const std::size_t width = T * 2 * H;
    for (const std::size_t row : {std::size_t{0}, std::size_t{63}, std::size_t{64}, rows - 1}) {
        const std::vector<float> x(inputs.begin() + static_cast<long>(row * T * I),
                                   inputs.begin() + static_cast<long>((row + 1) * T * I));
        const auto alone = run_network(spec, dir.path(), x, 1);
        REQUIRE(std::equal(alone.begin(), alone.end(), all.begin() + static_cast<long>(row * width)));
    }
}

// Three stacked one-way layers, run step by step across the layers (each layer's h_t goes
// straight to the next layer): every step of the last layer's sequence equals the equations,
// over 70 rows.
TEST_CASE("nn.recurrent.lstm_stacked_one_way_sequences", "[nn]") {
    const std::vector<torch_rnn> cells{make_rnn(4, 0.0f), make_rnn(4, 0.7f, H), make_rnn(4, 1.3f, H)};
    constexpr std::size_t rows = 70;
    std::vector<float> inputs, want;
    for (std::size_t row = 0; row < rows; ++row) {
        const auto x = values(T * I, 0.29f * static_cast<float>(row));
        auto y = x;
        for (const auto& c : cells) y = torch_reference(c, y);
        inputs.insert(inputs.end(), x.begin(), x.end());
        want.insert(want.end(), y.begin(), y.end());
    }
    scratch_dir dir;
    std::map<std::string, array> arrays;
    for (std::size_t k = 0; k < cells.size(); ++k) {
        arrays[fmt::format("rnn.weight_ih_l{}", k)] = {{4 * H, cells[k].in}, cells[k].w_ih};
        arrays[fmt::format("rnn.weight_hh_l{}", k)] = {{4 * H, H}, cells[k].w_hh};
        arrays[fmt::format("rnn.bias_ih_l{}", k)] = {{4 * H}, cells[k].b_ih};
        arrays[fmt::format("rnn.bias_hh_l{}", k)] = {{4 * H}, cells[k].b_hh};
    }
    save_weights(dir.path(), arrays);
    expect_close(run_network(spec_of(rnn_spec("torch", "lstm", R"(, "num_layers": 3)")), dir.path(), inputs, rows), want);
}

}  // namespace npyflow::test
