#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/ops/op_registry.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;
using nlohmann::json;

TEST_CASE("op_registry.parses_every_op", "[ops][registry]") {
    const auto ops = parse_ops(json::parse(R"([
        {"op": "cast", "dtype": "float32"}, {"op": "scale", "factor": 2, "offset": -1},
        {"op": "normalize", "mean": [1, 2, 3], "std": [1, 1, 1], "axis": -1}, {"op": "clip", "min": 0},
        {"op": "reshape", "shape": [-1]}, {"op": "transpose", "axes": [0]}])"));
    REQUIRE(ops.size() == 6);
    CHECK(ops[2]->name() == "normalize");
    CHECK(known_ops() == std::vector<std::string>{"cast", "scale", "normalize", "clip", "reshape", "transpose"});
}

TEST_CASE("op_registry.errors_name_the_op_and_its_position", "[ops][registry]") {
    auto rejects = [](const char* text, const std::string& reason) {
        INFO(text);
        CHECK_THROWS_WITH(parse_ops(json::parse(text)), Contains(reason));
    };
    rejects(R"([{"op": "cast", "dtype": "float32"}, {"op": "normalise"}])",
            "preprocess[1]: unknown op 'normalise' (known: cast, scale, normalize, clip, reshape, transpose)");
    rejects(R"([{"op": "cast", "dtype": "complex64"}])", "preprocess[0] (cast): 'dtype' must be a numpy dtype name");
    rejects(R"([{"op": "cast"}])", "preprocess[0] (cast): needs 'dtype'");
    rejects(R"([{"op": "scale", "factor": "2"}])", "preprocess[0] (scale): 'factor' must be a number");
    rejects(R"([{"op": "scale", "facter": 2}])", "preprocess[0] (scale): unknown parameter 'facter' (takes: factor, offset, op)");
    rejects(R"([{}, {"op": "scale"}])", "preprocess[0]: an op is an object with an \"op\" name");
    rejects(R"([{"op": "normalize", "mean": [0.5], "std": [0]}])", "preprocess[0] (normalize): 'std' values must be positive");
    rejects(R"([{"op": "normalize", "mean": [0.5, 0.4], "std": [1]}])", "same number of values");
    rejects(R"([{"op": "normalize", "mean": "x", "std": [1]}])", "'mean' must be a number or a list of numbers");
    rejects(R"([{"op": "clip"}])", "preprocess[0] (clip): needs 'min', 'max' or both");
    rejects(R"([{"op": "clip", "min": 2, "max": 1}])", "'min' 2 is above 'max' 1");
    rejects(R"([{"op": "reshape", "shape": [-1, -1]}])", "at most one -1");
    rejects(R"([{"op": "reshape", "shape": [2.5]}])", "'shape' must be a list of integers");
    rejects(R"([{"op": "transpose", "axes": [0, 0]}])", "not a permutation");
    rejects(R"({"op": "cast"})", "\"preprocess\" must be a list of ops");
}
