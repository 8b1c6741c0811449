// The layer table, the graph syntax's errors (each message's text), and shape inference
// through graphs and sequences.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <set>
#include <span>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_descriptor.hpp"
#include "tests/nn/nn_test_support.hpp"
#include "tests/test_support.hpp"

namespace npyflow::test {
namespace {

std::string chain(const std::string& layers, const std::string& shape = "[4]", const std::string& layout = "torch") {
    return fmt::format(R"({{"layout": "{}", "input": {{"shape": {}}}, "layers": [{}]}})", layout, shape, layers);
}

void refused(const std::string& spec, const std::string& message) {
    INFO(spec);
    REQUIRE_THROWS_WITH(spec_of(spec), Catch::Contains(message));
}

}  // namespace

// Every kind has a complete descriptor at its place in the table, and a spec can name it.
TEST_CASE("nn.layer_table.every_kind_has_a_descriptor", "[nn]") {
    REQUIRE(layer_table().size() == static_cast<std::size_t>(layer_kind::count_));
    std::set<std::string> names;
    for (std::size_t k = 0; k < layer_table().size(); ++k) {
        const auto kind = static_cast<layer_kind>(k);
        const layer_descriptor& d = descriptor(kind);
        INFO(d.name);
        REQUIRE(d.kind == kind);
        REQUIRE(d.parse);
        REQUIRE(d.bind);
        // A lower for every kind the network computes; none for one it reads through.
        REQUIRE((d.lower != nullptr) != d.identity_at_inference);
        REQUIRE(d.flops);
        REQUIRE(d.min_inputs >= 1);
        REQUIRE(d.max_inputs >= d.min_inputs);
        REQUIRE(names.insert(d.name).second);
        if (d.alias) REQUIRE(names.insert(d.alias).second);
        REQUIRE(name(kind) == d.name);
    }
}

TEST_CASE("nn.graph.errors_name_the_layers", "[nn]") {
    refused(chain(R"({"type": "relu", "name": "a"}, {"type": "add", "inputs": ["a", "nope"]})"),
            R"(layers[1] (add): input "nope" is not the name of a layer (nor "input", the model's input))");
    refused(chain(R"({"type": "relu", "name": "a", "inputs": ["b"]}, {"type": "relu", "name": "b"})"),
            R"(layers[0] (relu "a"): its input layers[1] (relu "b") comes after it; list each layer after its inputs (a graph with a cycle cannot be ordered so))");
    refused(chain(R"({"type": "relu", "name": "a", "inputs": ["a"]})"), R"(layers[0] (relu "a"): takes its own output as input)");
    refused(chain(R"({"type": "relu", "name": "a"}, {"type": "tanh", "name": "a"})"),
            R"(layers[1] (tanh "a"): the name "a" is taken by layers[0] (relu "a") already; names must be unique)");
    refused(chain(R"({"type": "relu", "name": "a"}, {"type": "tanh", "inputs": ["input"]})"),
            R"(layers[0] (relu "a"): its output is used by no later layer (only the last layer's output is the model's); layers[1] (tanh) names its own 'inputs')");
    refused(chain(R"({"type": "add", "inputs": ["input"]})"), "layers[0] (add): takes at least 2 inputs: name them in 'inputs'");
    refused(chain(R"({"type": "relu", "inputs": ["input", "input"]})"), "layers[0] (relu): takes 1 input, 'inputs' names 2");
    refused(chain(R"({"type": "relu", "name": "input"})"),
            R"(layers[0] (relu "input"): 'input' names the model's input; give the layer another name)");
    refused(chain(R"({"type": "relu", "inputs": "input"})"),
            R"(layers[0] (relu): 'inputs' must be a list of layer names (or "input"), got "input")");
    refused(chain(R"({"type": "concat", "inputs": ["input", "input"]})"),
            "layers[0] (concat): needs 'dim': the per-sample axis to join along (batch excluded; -1 for the last)");
    refused(chain(R"({"type": "concat", "inputs": ["input", "input"], "axis": 0})", "[4]", "keras"),
            "layers[0] (concat): 'axis' 0 is the batch; concat joins samples' axes (Keras counts the batch as 0)");
    refused(chain(R"({"type": "lstm", "name": "l", "hidden_size": 3, "num_layers": 2})", "[5, 4]", "keras"),
            "'num_layers' in the keras layout: Keras stacks recurrent layers one by one; list each as a layer");
    refused(chain(R"({"type": "lstm", "name": "l"})", "[5, 4]"), R"(layers[0] (lstm "l"): needs 'hidden_size')");
    refused(chain(R"({"type": "embedding", "name": "e", "mask_zero": true})", "[5]", "keras"),
            "'mask_zero' true: npyflow does not mask time steps");
    refused(chain(R"({"type": "gru", "name": "g", "hidden_size": 2, "reset_after": false})", "[5, 4]"),
            "'reset_after' is Keras's option; PyTorch's gru always resets after");
    refused(chain(R"({"type": "transformer_encoder", "name": "t", "nhead": 2})", "[5, 4]", "keras"),
            R"(layers[0] (transformer_encoder "t"): is PyTorch's nn.TransformerEncoderLayer; use "layout": "torch")");
    refused(chain(R"({"type": "transformer_encoder", "name": "t"})", "[5, 4]"), "needs 'nhead'");
    refused(chain(R"({"type": "maxpool2d", "kernel_size": 2, "ceil_mode": true})", "[1, 7, 7]"),
            "'ceil_mode' true is not supported: npyflow's windows use floor mode, PyTorch's default");
    refused(chain(R"({"type": "flatten", "data_format": "channels_first"})", "[7, 7, 1]", "keras"),
            R"('data_format' "channels_first": npyflow flattens the layout's own order (keras: channels_last))");
    refused(chain(R"({"type": "flatten", "start_dim": 2})", "[1, 7, 7]"),
            "'start_dim' 2: npyflow flattens every per-sample axis (start_dim 1)");
    refused(chain(R"({"type": "global_avgpool2d", "keepdims": true})", "[1, 7, 7]"),
            "'keepdims' true is not supported: the output is (C)");
    refused(chain(R"({"type": "transformer_encoder", "name": "t", "nhead": 2, "activation": "tanh"})", "[5, 4]"),
            R"('activation' must be "relu" or "gelu", got "tanh")");
}

// Shapes flow through the graph: errors that need them name both layers.
TEST_CASE("nn.graph.shape_errors_name_both_layers", "[nn]") {
    scratch_dir dir;
    save_weights(dir.path(), {{"a.weight", {{3, 4}, std::vector<float>(12, 0.5f)}},
                              {"b.weight", {{2, 4}, std::vector<float>(8, 0.5f)}}});
    const std::string two = R"({"type": "linear", "name": "a", "bias": false},
                               {"type": "linear", "name": "b", "inputs": ["input"], "bias": false},)";
    auto bind = [&](const std::string& spec) { return bind_parameters(spec_of(spec), weight_source(dir.path()), false); };
    REQUIRE_THROWS_WITH(bind(chain(two + R"({"type": "add", "inputs": ["a", "b"]})")),
                        R"(layers[2] (add): its inputs differ in shape: layers[0] (linear "a") gives (3,), layers[1] (linear "b") gives (2,))");
    REQUIRE_THROWS_WITH(bind(chain(R"({"type": "linear", "name": "b", "bias": false},
                                      {"type": "multiply", "inputs": ["b", "input"]})")),
                        R"(layers[1] (multiply): its inputs differ in shape: layers[0] (linear "b") gives (2,), the model's input gives (4,))");
    // Concat joins (3,) and (2,) along dim 0: (5,).
    REQUIRE(bind(chain(two + R"({"type": "concat", "inputs": ["a", "b"], "dim": -1})")).layers.back().out ==
            tensor_shape{5});
    REQUIRE_THROWS_WITH(bind(chain(two + R"({"type": "concat", "inputs": ["a", "b"], "dim": 1})")),
                        "layers[2] (concat): 'dim' 1 is not an axis of its (3,) inputs (-1 to 0)");
}

TEST_CASE("nn.graph.shape_inference_any_rank", "[nn]") {
    scratch_dir dir;
    save_weights(dir.path(), {{"fc.weight", {{3, 5}, std::vector<float>(15, 0.1f)}},
                              {"fc.bias", {{3}, std::vector<float>(3, 0.0f)}},
                              {"ln.weight", {{5}, std::vector<float>(5, 1.0f)}},
                              {"ln.bias", {{5}, std::vector<float>(5, 0.0f)}},
                              {"c.weight", {{6, 5, 3}, std::vector<float>(90, 0.1f)}}});
    auto bound = [&](const std::string& spec) { return bind_parameters(spec_of(spec), weight_source(dir.path()), false); };
    // Elementwise layers and layernorm keep (T, F); linear acts on the last axis.
    auto m = bound(chain(R"({"type": "leaky_relu"}, {"type": "layernorm", "name": "ln"}, {"type": "linear", "name": "fc"},
                            {"type": "softmax", "dim": -1})", "[2, 5]"));
    REQUIRE(m.layers[0].out == tensor_shape{2, 5});
    REQUIRE(m.layers[2].out == tensor_shape{2, 3});
    REQUIRE(m.layers[3].out == tensor_shape{2, 3});
    // conv1d on (C, L) = (5, 8), kernel 3, padding 1, then pooling and the global mean.
    m = bound(chain(R"({"type": "conv1d", "name": "c", "padding": 1, "bias": false}, {"type": "maxpool1d", "kernel_size": 2},
                       {"type": "global_avgpool1d"})", "[5, 8]"));
    REQUIRE(m.layers[0].out == tensor_shape{6, 8});
    REQUIRE(m.layers[1].out == tensor_shape{6, 4});
    REQUIRE(m.layers[2].out == tensor_shape{6});
    REQUIRE_THROWS_WITH(bound(chain(R"({"type": "linear", "name": "fc"})", "[2, 2, 5]")),
                        R"(layers[0] (linear "fc"): needs (features) or (T, features) input; put a flatten before it (input (2, 2, 5)))");
    REQUIRE_THROWS_WITH(bound(chain(R"({"type": "softmax", "dim": 1})", "[2, 5]")),
                        "layers[0] (softmax): works over the last axis only (dim -1, or 2 counting the batch), got dim 1 of a (2, 5) sample");
    REQUIRE_THROWS_WITH(bound(chain(R"({"type": "conv1d", "name": "c"})", "[5, 8, 8]")),
                        R"(layers[0] (conv1d "c"): needs (C, L) input, got (5, 8, 8))");
    REQUIRE_THROWS_WITH(bound(chain(R"({"type": "transformer_encoder", "name": "t", "nhead": 2})", "[2, 5]")),
                        R"(layers[0] (transformer_encoder "t"): d_model 5 does not split into 2 heads)");
    REQUIRE_THROWS_WITH(bound(chain(R"({"type": "lstm", "name": "l", "hidden_size": 3})", "[5]")),
                        R"(layers[0] (lstm "l"): needs (T, features) input, got (5,))");
    REQUIRE_THROWS_WITH(bound(chain(R"({"type": "layernorm", "name": "ln", "normalized_shape": [2, 4]})", "[2, 5]")),
                        R"(layers[0] (layernorm "ln"): 'normalized_shape' (2, 4) is not the last dims of its input (2, 5))");
}

// An id that picks no row of the table stops the job and names the row, counted in the job.
TEST_CASE("nn.embedding.ids_out_of_range_name_the_row", "[nn]") {
    scratch_dir dir;
    save_weights(dir.path(), {{"e.weight", {{4, 2}, {0, 1, 2, 3, 4, 5, 6, 7}}}});
    const network net(bind_parameters(spec_of(chain(R"({"type": "embedding", "name": "e"})", "[3]")),
                                      weight_source(dir.path()), false));
    std::vector<float> ids{3, 0, 1, 2, 2, 2}, out(12);
    net.run(ids, 2, out);
    REQUIRE(out == std::vector<float>{6, 7, 0, 1, 2, 3, 4, 5, 4, 5, 4, 5});
    for (const float bad : {4.0f, -1.0f, 1.5f}) {
        ids = {0, 0, 0, 1, bad, 1};
        REQUIRE_THROWS_WITH(net.run(ids, 2, out, 100),
                            fmt::format("layers[0] (embedding \"e\"): input row 101 holds id {} at position 1, not a "
                                        "whole number from 0 to 3", bad));
    }
}

}  // namespace npyflow::test

namespace npyflow::test {

// An activation is fused into the layer before it only when nothing else reads that layer's
// output, a dropout between them included: here "a" feeds both the relu (through dropout)
// and the add, so the add must see a's output without the relu.
TEST_CASE("nn.fusion.never_across_a_branch", "[nn]") {
    scratch_dir dir;
    save_weights(dir.path(), {{"a.weight", {{2, 2}, {1, 0, 0, -1}}}, {"a.bias", {{2}, {0, 0}}}});
    const auto spec = spec_of(chain(R"({"type": "linear", "name": "a"}, {"type": "dropout", "name": "d"},
                                       {"type": "relu", "name": "r"}, {"type": "add", "inputs": ["r", "a"]})", "[2]"));
    // x = (3, 5): a = (3, -5); relu(a) + a = (6, -5).
    REQUIRE(run_network(spec, dir.path(), {3, 5}, 1) == std::vector<float>{6, -5});
}

}  // namespace npyflow::test

namespace npyflow::test {

// Sizes a spec states are bounded, and their products never wrap round to a small slice of a
// flat weight vector (which would then be read past its end).
TEST_CASE("nn.sizes.absurd_sizes_are_refused_before_anything_is_allocated", "[nn]") {
    refused(chain(R"({"type": "embedding", "name": "e", "num_embeddings": 4611686018427387905, "embedding_dim": 4})", "[3]"),
            "'num_embeddings' is 4611686018427387905, more than the 4294967296 npyflow accepts");
    refused(chain(R"({"type": "embedding", "name": "e", "num_embeddings": 16777218, "embedding_dim": 4})", "[3]"),
            "'num_embeddings' is 16777218: ids past 2^24 do not survive the float32 input exactly");
    refused(chain(R"({"type": "lstm", "name": "l", "hidden_size": 4294967297})", "[2, 1]"),
            "'hidden_size' is 4294967297, more than the 4294967296 npyflow accepts");
    scratch_dir dir;
    save_weights(dir.path(), {{"flat", {{16}, std::vector<float>(16, 0.5f)}}});
    const auto flat = dir / "flat.npy";
    REQUIRE_THROWS_WITH(bind_parameters(spec_of(chain(R"({"type": "lstm", "name": "l", "hidden_size": 4294967296})",
                                                      "[2, 4294967296]")),
                                        weight_source(flat), false),
                        Catch::Contains(R"(layers[0] (lstm "l"): 'weight_ih_l0' would need more values than a flat weight vector can hold; check the sizes in the spec)"));
    REQUIRE_THROWS_WITH(bind_parameters(spec_of(chain(R"({"type": "linear", "name": "a", "out_features": 5})")),
                                        weight_source(flat), false),
                        Catch::Contains("the flat weight vector ends after 16 values, but 'weight' needs 4 more"));
}

TEST_CASE("nn.spec.stated_sizes_roles_and_windows_are_checked", "[nn]") {
    scratch_dir dir;
    save_weights(dir.path(), {{"a.weight", {{3, 4}, std::vector<float>(12, 0.5f)}}, {"a.bias", {{3}, {0, 0, 0}}},
                              {"c.weight", {{2, 1, 3}, std::vector<float>(6, 0.5f)}}});
    auto bind = [&](const std::string& spec) { return bind_parameters(spec_of(spec), weight_source(dir.path()), false); };
    REQUIRE_THROWS_WITH(bind(chain(R"({"type": "linear", "name": "a", "in_features": 99})")),
                        R"(layers[0] (linear "a"): 'in_features' is 99, but its input (4,) gives 4)");
    REQUIRE_THROWS_WITH(bind(chain(R"({"type": "linear", "name": "a", "params": {"wieght": "a.weight"}})")),
                        R"(layers[0] (linear "a"): 'params.wieght' is not one of this layer's arrays (it takes: weight, bias))");
    REQUIRE_THROWS_WITH(bind(chain(R"({"type": "conv1d", "name": "c", "dilation": 5, "bias": false})", "[1, 10]")),
                        R"(layers[0] (conv1d "c"): window (3,) with dilation (5,) spans 11 and does not fit input (1, 10))");
    REQUIRE_THROWS_WITH(bind(chain(R"({"type": "maxpool1d", "kernel_size": 2, "padding": 3})", "[1, 10]")),
                        "layers[0] (maxpool1d): 'padding' (3,) is more than half the kernel (2,), as PyTorch refuses too");
    std::string many = R"({"type": "relu", "name": "r"}, {"type": "add", "inputs": [)";
    for (int i = 0; i < 65; ++i) many += std::string(i ? ", " : "") + "\"r\"";
    refused(chain(many + "]}"), "layers[1] (add): takes at most 64 inputs, 'inputs' names 65");
}

}  // namespace npyflow::test

namespace npyflow::test {
namespace {

std::vector<float> wave(std::size_t n, float seed) {
    std::vector<float> v(n);
    for (std::size_t k = 0; k < n; ++k) v[k] = std::sin(seed + 0.37f * static_cast<float>(k)) / 4;
    return v;
}

// A one-head transformer encoder layer over (t, 8) samples, its weights written to dir.
network encoder(const scratch_dir& dir, std::uint64_t t) {
    constexpr std::uint64_t d = 8, ff = 8;
    save_weights(dir.path(), {{"t.self_attn.in_proj_weight", {{3 * d, d}, wave(3 * d * d, 0.1f)}},
                              {"t.self_attn.in_proj_bias", {{3 * d}, wave(3 * d, 0.2f)}},
                              {"t.self_attn.out_proj.weight", {{d, d}, wave(d * d, 0.3f)}},
                              {"t.self_attn.out_proj.bias", {{d}, wave(d, 0.4f)}},
                              {"t.linear1.weight", {{ff, d}, wave(ff * d, 0.5f)}},
                              {"t.linear1.bias", {{ff}, wave(ff, 0.6f)}},
                              {"t.linear2.weight", {{d, ff}, wave(d * ff, 0.7f)}},
                              {"t.linear2.bias", {{d}, wave(d, 0.8f)}},
                              {"t.norm1.weight", {{d}, wave(d, 0.9f)}},
                              {"t.norm1.bias", {{d}, wave(d, 1.0f)}},
                              {"t.norm2.weight", {{d}, wave(d, 1.1f)}},
                              {"t.norm2.bias", {{d}, wave(d, 1.2f)}}});
    const auto spec = spec_of(fmt::format(R"({{"layout": "torch", "input": {{"shape": [{}, {}]}}, "layers": [
        {{"type": "transformer_encoder", "name": "t", "nhead": 1, "dim_feedforward": {}}}]}})",
                                          t, d, ff));
    return network(bind_parameters(spec, weight_source(dir.path()), true));
}

}  // namespace

// A model whose 64 rows would hold more than 256 MiB of activations a thread (attention over
// 2048 steps: 16 MiB of scores a row) runs fewer rows at a time, a power of two fixed by the
// model, so that it runs at all; its rows' results stay independent of the batch.
TEST_CASE("nn.network.micro_batch_shrinks_for_wide_activations", "[nn]") {
    scratch_dir narrow_dir, wide_dir;
    CHECK(encoder(narrow_dir, 16).micro_batch_rows() == 64);
    const network wide = encoder(wide_dir, 2048);
    const std::size_t rows = wide.micro_batch_rows();
    CHECK(rows < 64);
    CHECK(rows >= 1);
    CHECK((rows & (rows - 1)) == 0);
    CHECK(wide.activation_bytes() <= (std::uint64_t{256} << 20));
    const std::size_t n = rows + 3;  // a full micro-batch and a padded one
    const auto x = wave(n * wide.input_values(), 2.0f);
    std::vector<float> together(n * wide.output_values()), alone(wide.output_values());
    wide.run(x, n, together);
    for (std::size_t r = 0; r < n; r += rows / 2 + 1) {
        wide.run(std::span(x).subspan(r * wide.input_values(), wide.input_values()), 1, alone);
        INFO("row " << r);
        CHECK(std::memcmp(alone.data(), together.data() + r * wide.output_values(), alone.size() * sizeof(float)) == 0);
    }
}

}  // namespace npyflow::test
