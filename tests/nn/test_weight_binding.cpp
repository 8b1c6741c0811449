// Binding arrays the layout cannot describe ("params" transforms, a layer's own layout),
// weights without names (positional, flat), the refusal of kernels whose layout they cannot
// tell, and the hints that name a missing array's likely cause. Each checks a message's
// text or the values a network computes from the bound arrays.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "tests/nn/nn_test_support.hpp"
#include "tests/test_support.hpp"

namespace npyflow::test {
namespace {

// y = W x + b for W (out, in) in C order.
std::vector<float> affine(const std::vector<float>& w, const std::vector<float>& b, const std::vector<float>& x) {
    std::vector<float> y(b);
    const std::size_t in = x.size();
    for (std::size_t o = 0; o < b.size(); ++o) {
        for (std::size_t i = 0; i < in; ++i) y[o] += w[o * in + i] * x[i];
    }
    return y;
}

std::vector<float> ramp(std::size_t n, float scale) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(int(i % 7) - 3) + 0.01f * float(i);
    return v;
}

// (in, out) from (out, in).
std::vector<float> transposed(const std::vector<float>& w, std::size_t out, std::size_t in) {
    std::vector<float> t(w.size());
    for (std::size_t o = 0; o < out; ++o) {
        for (std::size_t i = 0; i < in; ++i) t[i * out + o] = w[o * in + i];
    }
    return t;
}

void require_close(const std::vector<float>& got, const std::vector<float>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(want[i]).margin(1e-5));
}

std::string bind_error(const std::string& spec, const std::filesystem::path& weights, bool strict = false) {
    try {
        (void)bind_parameters(spec_of(spec), weight_source(weights), strict);
    } catch (const error& e) {
        return e.what();
    }
    return "(bound)";
}

const std::vector<float> x3{0.5f, -1.0f, 2.0f};

}  // namespace

TEST_CASE("nn.params.index_offset_shape_and_transpose", "[nn]") {
    scratch_dir dir;
    const auto w0 = ramp(12, 0.1f), w1 = ramp(12, -0.2f), b = ramp(4, 0.3f);
    std::vector<float> stack(w0);
    stack.insert(stack.end(), w1.begin(), w1.end());
    std::vector<float> joined(w1);  // a weight and its bias in one vector
    joined.insert(joined.end(), b.begin(), b.end());
    save_weights(dir.path(), {{"stack", {{2, 4, 3}, stack}},
                              {"layer_2", {{16}, joined}},
                              {"kernel", {{3, 4}, transposed(w1, 4, 3)}},
                              {"b", {{4}, b}}});
    const auto want = affine(w1, b, x3);

    SECTION("the index-th slice of stacked layers") {
        const auto spec = spec_of(R"({"layout": "torch", "input": {"shape": [3]}, "layers": [{"type": "linear",
            "params": {"weight": {"array": "stack", "index": 1}, "bias": "b"}}]})");
        require_close(run_network(spec, dir.path(), x3, 1), want);
        const auto bound = bind_parameters(spec, weight_source(dir.path()), false);
        REQUIRE(bound.layers[0].reads.size() == 2);
        REQUIRE(bound.layers[0].reads[0].source == "stack[1]");
        REQUIRE(bound.layers[0].reads[0].shape == std::vector<std::uint64_t>{4, 3});
    }
    SECTION("a weight and bias concatenated in one vector") {
        const auto spec = spec_of(R"({"layout": "torch", "input": {"shape": [3]}, "layers": [{"type": "linear",
            "params": {"weight": {"array": "layer_2", "offset": 0, "shape": [4, 3]},
                       "bias": {"array": "layer_2", "offset": 12, "shape": [4]}}}]})");
        require_close(run_network(spec, dir.path(), x3, 1), want);
        const auto bound = bind_parameters(spec, weight_source(dir.path()), false);
        REQUIRE(bound.layers[0].reads[1].source == "layer_2[12:16] as (4,)");
    }
    SECTION("a transpose") {
        const auto spec = spec_of(R"({"layout": "torch", "input": {"shape": [3]}, "layers": [{"type": "linear",
            "params": {"weight": {"array": "kernel", "transpose": [1, 0]}, "bias": "b"}}]})");
        require_close(run_network(spec, dir.path(), x3, 1), want);
    }
    SECTION("a layer's own layout") {
        const auto spec = spec_of(R"({"layout": "torch", "input": {"shape": [3]}, "layers": [{"type": "linear",
            "layout": "keras", "params": {"kernel": "kernel", "bias": "b"}}]})");
        require_close(run_network(spec, dir.path(), x3, 1), want);
    }
    SECTION("transforms the array cannot take") {
        const std::string head = R"({"layout": "torch", "input": {"shape": [3]}, "layers": [{"type": "linear", "params": )";
        REQUIRE_THAT(bind_error(head + R"({"weight": {"array": "stack", "index": 2}, "bias": "b"}}]})", dir.path()),
                     Catch::Contains("layers[0] (linear): 'index' 2 is out of range for array 'stack' of shape (2, 4, "
                                     "3) (it selects along the first axis)"));
        REQUIRE_THAT(bind_error(head + R"({"weight": {"array": "layer_2", "offset": 8, "shape": [4, 3]}, "bias": "b"}}]})",
                                dir.path()),
                     Catch::Contains("'offset' 8 with 'shape' (4, 3) needs 12 values from there, but array 'layer_2' "
                                     "has 16 in all"));
        REQUIRE_THAT(bind_error(head + R"({"weight": {"array": "kernel", "transpose": [0, 1, 2]}, "bias": "b"}}]})",
                                dir.path()),
                     Catch::Contains("'transpose' lists 3 axes, but array 'kernel' has 2 ((3, 4))"));
        REQUIRE_THAT(bind_error(head + R"({"weight": {"array": "kernel"}, "bias": "b"}}]})", dir.path()),
                     Catch::Contains("array 'kernel' has shape (3, 4), expected (4, 3) (out, in); looks like Keras "
                                     "(in,out); set \"layout\": \"keras\""));
    }
}

TEST_CASE("nn.params.refused_when_malformed", "[nn]") {
    auto refused = [](const std::string& params, const std::string& message) {
        const auto spec = fmt::format(R"({{"input": {{"shape": [3]}}, "layers": [{{"type": "linear", "name": "a",
            "params": {{"weight": {}}}}}]}})", params);
        INFO(spec);
        REQUIRE_THROWS_WITH(spec_of(spec), Catch::Contains(message));
    };
    refused(R"({"array": "w", "offset": 3})", "'params.weight': 'offset' needs 'shape', the shape of the values taken from there");
    refused(R"({"array": "w", "transpose": [0, 0]})", "'params.weight'.transpose must be a permutation of 0 to 1, got [0,0]");
    refused(R"({"array": "w", "stride": 2})", "'params.weight': unknown key 'stride' (takes: array, index, offset, shape, transpose)");
    refused(R"({"index": 1})", "'params.weight' must be an array name, or an object with \"array\"");
    refused(R"({"array": "w", "index": -1})", "'params.weight'.index must be a non-negative integer, got -1");
    refused(R"({"array": "w", "shape": [0, 3]})", "'params.weight'.shape's sizes must be 1 to 2^40, got 0");
    REQUIRE_THROWS_WITH(spec_of(R"({"input": {"shape": [3]}, "layers": [{"type": "linear", "layout": "tf"}]})"),
                        Catch::Contains("'layout' must be \"torch\" or \"keras\", got \"tf\""));
}

TEST_CASE("nn.layout.implied_by_the_weights_format", "[nn]") {
    const auto j = nlohmann::json::parse(R"({"input": {"shape": [3]}, "layers": [{"type": "relu"}]})");
    REQUIRE(parse_model_spec(j, weight_layout::keras).layout == weight_layout::keras);
    REQUIRE(parse_model_spec(j).layout == weight_layout::torch);
    REQUIRE_FALSE(parse_model_spec(j).layout_stated);
    auto stated = j;
    stated["layout"] = "torch";
    REQUIRE_THROWS_WITH(parse_model_spec(stated, weight_layout::keras),
                        "'layout' is \"torch\", but the weights are Keras's own file, in Keras's layout; remove 'layout' "
                        "or set it to \"keras\"");
}

TEST_CASE("nn.positional.unnamed_layers_and_ambiguous_kernels", "[nn]") {
    scratch_dir dir;
    const auto w = ramp(9, 0.1f), b = ramp(3, 0.2f);
    save_weights(dir.path(), {{"arr_0", {{3, 3}, w}}, {"arr_1", {{3}, b}}});
    const std::string layers = R"("input": {"shape": [3]}, "layers": [{"type": "linear"}])";

    // (3, 3) reads as (out, in) or (in, out): positional weights cannot say which.
    REQUIRE(bind_error("{" + layers + "}", dir.path()) ==
            "layers[0] (linear): array 'arr_0' has shape (3, 3), which fits both PyTorch's (out, in) and Keras's (in, "
            "out), and positional weights carry no names to tell; set \"layout\": \"torch\" or \"keras\" in the spec "
            "(or in this layer)");
    require_close(run_network(spec_of(R"({"layout": "torch", )" + layers + "}"), dir.path(), x3, 1), affine(w, b, x3));
    require_close(run_network(spec_of(R"({"layout": "keras", )" + layers + "}"), dir.path(), x3, 1),
                  affine(transposed(w, 3, 3), b, x3));
    require_close(run_network(spec_of(R"({"input": {"shape": [3]}, "layers": [{"type": "linear", "layout": "torch"}]})"),
                              dir.path(), x3, 1),
                  affine(w, b, x3));

    SECTION("a flat vector never says") {
        scratch_dir flat;
        std::vector<float> all(w);
        all.insert(all.end(), b.begin(), b.end());
        save_weights(flat.path(), {{"w", {{12}, all}}});
        const std::string spec = R"({"input": {"shape": [3]}, "layers": [{"type": "linear", "out_features": 3}]})";
        REQUIRE(bind_error(spec, flat / "w.npy") ==
                fmt::format("layers[0] (linear): a flat weight vector does not say whether '{0}[0:9]' is PyTorch's "
                            "(out, in) or Keras's (in, out); set \"layout\": \"torch\" or \"keras\" in the spec",
                            (flat / "w.npy").string()));
    }
    SECTION("a conv kernel that fits OIHW and HWIO") {
        scratch_dir conv;
        save_weights(conv.path(), {{"arr_0", {{3, 3, 3, 3}, ramp(81, 0.1f)}}, {"arr_1", {{3}, b}}});
        REQUIRE_THAT(bind_error(R"({"input": {"shape": [3, 5, 5]}, "layers": [{"type": "conv2d"}]})", conv.path()),
                     Catch::Contains("array 'arr_0' has shape (3, 3, 3, 3), which fits both PyTorch's OIHW and Keras's "
                                     "HWIO"));
        REQUIRE(bind_error(R"({"layout": "torch", "input": {"shape": [3, 5, 5]}, "layers": [{"type": "conv2d"}]})",
                           conv.path()) == "(bound)");
    }
    SECTION("a non-square kernel tells by its shape") {
        scratch_dir tall;
        save_weights(tall.path(), {{"arr_0", {{2, 3}, ramp(6, 0.1f)}}, {"arr_1", {{2}, ramp(2, 0.1f)}}});
        REQUIRE(bind_error("{" + layers + "}", tall.path()) == "(bound)");
    }
    SECTION("named weights need a name") {
        scratch_dir named;
        save_weights(named.path(), {{"fc.weight", {{3, 3}, w}}, {"fc.bias", {{3}, b}}});
        REQUIRE_THAT(bind_error("{" + layers + "}", named.path()),
                     Catch::Contains("layers[0] (linear): needs a 'name', the prefix of its arrays in"));
    }
}

TEST_CASE("nn.hints.name_the_likely_cause", "[nn]") {
    scratch_dir dir;
    SECTION("running statistics missing: saved from parameters()") {
        save_weights(dir.path(), {{"bn.weight", {{3}, ramp(3, 0.1f)}}, {"bn.bias", {{3}, ramp(3, 0.1f)}}});
        REQUIRE_THAT(bind_error(R"({"input": {"shape": [3]}, "layers": [{"type": "batchnorm", "name": "bn"}]})", dir.path()),
                     Catch::Contains("missing array 'bn.running_mean'") &&
                         Catch::Contains("saved with model.parameters() rather than state_dict()?"));
    }
    SECTION("no bias: say \"bias\": false") {
        save_weights(dir.path(), {{"fc.weight", {{2, 3}, ramp(6, 0.1f)}}});
        REQUIRE_THAT(bind_error(R"({"input": {"shape": [3]}, "layers": [{"type": "linear", "name": "fc"}]})", dir.path()),
                     Catch::Contains("missing array 'fc.bias'") &&
                         Catch::Contains("if the layer has no bias, set \"bias\": false"));
    }
    SECTION("a wrapper's prefix: say strip_prefix") {
        save_weights(dir.path(), {{"module.fc.weight", {{2, 3}, ramp(6, 0.1f)}}, {"module.fc.bias", {{2}, ramp(2, 0.1f)}}});
        const std::string spec = R"({"input": {"shape": [3]}, "layers": [{"type": "linear", "name": "fc"}]})";
        REQUIRE_THAT(bind_error(spec, dir.path()),
                     Catch::Contains("the names start with 'module.': set \"strip_prefix\": \"module.\""));
        auto fixed = nlohmann::json::parse(spec);
        fixed["strip_prefix"] = "module.";
        REQUIRE(bind_error(fixed.dump(), dir.path()) == "(bound)");
    }
    SECTION("positional arrays: too few, too many") {
        save_weights(dir.path(), {{"arr_0", {{2, 3}, ramp(6, 0.1f)}}, {"arr_1", {{2}, ramp(2, 0.1f)}}});
        const std::string two = R"({"layout": "torch", "input": {"shape": [3]}, "layers": [{"type": "linear"},
            {"type": "relu"}, {"type": "linear", "out_features": 2}]})";
        const auto message = bind_error(two, dir.path());
        REQUIRE_THAT(message, Catch::Contains("layers[2] (linear): its 'weight' would be arr_2, but " +
                                              dir.path().string() + " holds 2 positional arrays (arr_0 to arr_1): the "
                                              "spec's layers take more arrays than were saved"));
        REQUIRE_THAT(message, Catch::Contains("the layers take at least 3 arrays by position, 2 were saved"));
        save_weights(dir.path(), {{"arr_2", {{2, 2}, ramp(4, 0.1f)}}, {"arr_3", {{2}, ramp(2, 0.1f)}}});
        const std::string one = R"({"layout": "torch", "input": {"shape": [3]}, "layers": [{"type": "linear"}]})";
        const auto bound = bind_parameters(spec_of(one), weight_source(dir.path()), false);
        REQUIRE(bound.warnings.size() == 1);
        REQUIRE_THAT(bound.warnings[0], Catch::Contains("the layers take 2 of its 4 positional arrays (arr_2 to arr_3 "
                                                        "unused: is a layer missing from the spec?)"));
        REQUIRE_THAT(bind_error(one, dir.path(), true), Catch::Contains("(--strict)"));
    }
}

// Keras 2 saves an LSTM's arrays in its cell's scope ("lstm/lstm_cell/kernel:0"): a layer
// named "lstm" finds them there, and computes what the same arrays under "lstm/" give.
TEST_CASE("nn.keras.cell_scoped_names", "[nn]") {
    scratch_dir scoped, plain;
    const auto k = ramp(24, 0.1f), r = ramp(16, -0.1f), b = ramp(8, 0.05f);
    save_weights(scoped.path(), {{"lstm/lstm_cell/kernel:0", {{3, 8}, k}},
                                 {"lstm/lstm_cell/recurrent_kernel:0", {{2, 8}, r}},
                                 {"lstm/lstm_cell/bias:0", {{8}, b}}});
    save_weights(plain.path(), {{"lstm/kernel:0", {{3, 8}, k}}, {"lstm/recurrent_kernel:0", {{2, 8}, r}}, {"lstm/bias:0", {{8}, b}}});
    const auto spec = spec_of(R"({"layout": "keras", "input": {"shape": [4, 3]}, "layers": [{"type": "lstm", "name": "lstm", "units": 2}]})");
    const auto x = ramp(12, 0.3f);
    const auto want = run_network(spec, plain.path(), x, 1);
    REQUIRE(run_network(spec, scoped.path(), x, 1) == want);
}

// Arrays a "params" entry names are not taken again by position; names that strip_prefix
// makes equal are refused; "layout" only on layers with arrays, and it sets their options too.
TEST_CASE("nn.binding.what_the_sweep_found", "[nn]") {
    scratch_dir dir;
    const auto w0 = ramp(9, 0.1f), b0 = ramp(3, 0.2f), w1 = ramp(9, -0.15f), b1 = ramp(3, 0.05f);
    save_weights(dir.path(), {{"arr_0", {{3, 3}, w0}}, {"arr_1", {{3}, b0}}, {"arr_2", {{3, 3}, w1}}, {"arr_3", {{3}, b1}}});
    const auto spec = spec_of(R"({"layout": "torch", "input": {"shape": [3]}, "layers": [
        {"type": "linear", "params": {"weight": "arr_0", "bias": "arr_1"}}, {"type": "linear"}]})");
    require_close(run_network(spec, dir.path(), x3, 1), affine(w1, b1, affine(w0, b0, x3)));
    REQUIRE(bind_parameters(spec, weight_source(dir.path()), true).layers[1].reads[0].source == "arr_2");

    scratch_dir both;
    save_weights(both.path(), {{"module.fc.weight", {{2, 3}, ramp(6, 0.1f)}}, {"module.fc.bias", {{2}, ramp(2, 0.1f)}},
                               {"fc.weight", {{2, 3}, ramp(6, 0.0f)}}, {"fc.bias", {{2}, ramp(2, 0.0f)}}});
    REQUIRE_THAT(bind_error(R"({"strip_prefix": "module.", "input": {"shape": [3]}, "layers": [{"type": "linear", "name": "fc"}]})",
                            both.path()),
                 Catch::Contains("are both 'fc.bias' once \"strip_prefix\" \"module.\" is removed; which one is meant "
                                 "cannot be told"));

    REQUIRE_THROWS_WITH(spec_of(R"({"input": {"shape": [3]}, "layers": [{"type": "relu", "layout": "keras"}]})"),
                        Catch::Contains("'layout' sets the layout of a layer's arrays, and this layer has none"));
    // A Keras GRU in a torch model takes Keras's options.
    REQUIRE(spec_of(R"({"input": {"shape": [4, 3]}, "layers": [{"type": "gru", "name": "g", "layout": "keras",
        "units": 2, "reset_after": false}]})").layers[0].reset_after == false);
    REQUIRE_THROWS_WITH(spec_of(R"({"input": {"shape": [1048576, 1048576, 2]}, "layers": [{"type": "relu"}]})"),
                        Catch::Contains("is 2.2e+12 values a sample, more than any input npyflow can hold (2^40)"));
}

TEST_CASE("nn.params.window_sizes_that_overflow", "[nn]") {
    scratch_dir dir;
    save_weights(dir.path(), {{"E", {{16}, ramp(16, 0.1f)}}});
    REQUIRE_THAT(bind_error(R"({"layout": "torch", "input": {"shape": [3]}, "layers": [{"type": "embedding",
        "params": {"weight": {"array": "E", "shape": [16777216, 1099511627776]}}}]})", dir.path()),
                 Catch::Contains("'offset' 0 with 'shape' (16777216, 1099511627776) needs more than 16 values from "
                                 "there, but array 'E' has 16 in all"));
}

// A conv's FLOPs are the same whichever layout its arrays are in.
TEST_CASE("nn.layout.a_layers_own_layout_keeps_its_flops", "[nn]") {
    scratch_dir dir;
    const auto k = ramp(3 * 3 * 2 * 4, 0.1f);  // HWIO (3, 3, 2, 4)
    std::vector<float> oihw(k.size());
    for (std::size_t h = 0; h < 3; ++h)
        for (std::size_t w = 0; w < 3; ++w)
            for (std::size_t i = 0; i < 2; ++i)
                for (std::size_t o = 0; o < 4; ++o) oihw[((o * 2 + i) * 3 + h) * 3 + w] = k[((h * 3 + w) * 2 + i) * 4 + o];
    save_weights(dir.path(), {{"c/kernel", {{3, 3, 2, 4}, k}}, {"c/bias", {{4}, ramp(4, 0.1f)}},
                              {"c.weight", {{4, 2, 3, 3}, oihw}}, {"c.bias", {{4}, ramp(4, 0.1f)}}});
    const auto torch = spec_of(R"({"layout": "torch", "input": {"shape": [2, 5, 5]}, "layers": [{"type": "conv2d", "name": "c",
        "params": {"weight": "c.weight", "bias": "c.bias"}}]})");
    const auto own = spec_of(R"({"layout": "torch", "input": {"shape": [2, 5, 5]}, "layers": [{"type": "conv2d", "name": "c",
        "layout": "keras", "params": {"kernel": "c/kernel", "bias": "c/bias"}}]})");
    const network a(bind_parameters(torch, weight_source(dir.path()), false)), b(bind_parameters(own, weight_source(dir.path()), false));
    REQUIRE(a.flops_per_sample() == b.flops_per_sample());
    const auto x = ramp(50, 0.2f);
    require_close(run_network(own, dir.path(), x, 1), run_network(torch, dir.path(), x, 1));
}

}  // namespace npyflow::test
