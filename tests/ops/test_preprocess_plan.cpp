#include <cstring>
#include <numeric>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/ops/op_registry.hpp"
#include "npyflow/ops/preprocess_plan.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;

namespace {

preprocess_plan plan_for(const char* ops, sample_desc input) {
    return preprocess_plan(parse_ops(nlohmann::json::parse(ops)), std::move(input));
}

template <typename Out, typename In>
std::vector<Out> run(const preprocess_plan& plan, const std::vector<In>& in, std::size_t rows) {
    preprocess_plan::scratch scratch;
    const auto result = plan.run(std::as_bytes(std::span(in)), rows, scratch);
    std::vector<Out> out(result.size() / sizeof(Out));
    std::memcpy(out.data(), result.data(), result.size());
    return out;
}

}  // namespace

TEST_CASE("preprocess_plan.fuses_elementwise_runs_and_infers_shapes", "[ops][plan]") {
    const auto plan = plan_for(R"([{"op":"cast","dtype":"float32"}, {"op":"scale","factor":0.00392156862745098},
        {"op":"normalize","mean":[0.2860],"std":[0.3530]}, {"op":"reshape","shape":[1,28,28]}])",
                               {dtype::uint8, {28, 28}});
    CHECK(plan.describe() == "cast(float32)+scale+normalize");
    CHECK(plan.output() == sample_desc{dtype::float32, {1, 28, 28}});

    const auto layout = plan_for(R"([{"op":"transpose","axes":[2,0,1]}, {"op":"cast","dtype":"float64"},
        {"op":"clip","max":3}, {"op":"cast","dtype":"int16"}, {"op":"cast","dtype":"uint8"}])",
                                 {dtype::int32, {4, 5, 3}});
    CHECK(layout.describe() == "transpose | cast(float64)+clip+cast(int16) | cast(uint8)");
    CHECK(layout.output() == sample_desc{dtype::uint8, {3, 4, 5}});
    CHECK(plan_for("[]", {dtype::uint8, {3}}).describe() == "identity");
}

TEST_CASE("preprocess_plan.shape_errors_name_the_op_and_position", "[ops][plan]") {
    auto rejects = [](const char* ops, sample_desc in, const std::string& reason) {
        INFO(ops);
        CHECK_THROWS_WITH(plan_for(ops, in), Contains(reason));
    };
    rejects(R"([{"op":"scale","factor":2}])", {dtype::uint8, {4}},
            "preprocess[0] (scale): needs float32 or float64 input, got uint8; put {\"op\": \"cast\"");
    rejects(R"([{"op":"cast","dtype":"float32"}, {"op":"reshape","shape":[3,3]}])", {dtype::uint8, {2, 4}},
            "preprocess[1] (reshape): cannot reshape samples (2, 4) (8 values) to (3, 3) (9 values)");
    rejects(R"([{"op":"reshape","shape":[3,-1]}])", {dtype::uint8, {8}}, "cannot infer -1");
    rejects(R"([{"op":"transpose","axes":[1,0]}])", {dtype::uint8, {2, 3, 4}},
            "preprocess[0] (transpose): 'axes' has 2 entries, but samples (2, 3, 4) have 3 axes");
    rejects(R"([{"op":"cast","dtype":"float32"},{"op":"normalize","mean":[1,2,3],"std":[1,1,1],"axis":0}])",
            {dtype::uint8, {28, 28}}, "preprocess[1] (normalize): 3 channels given, but axis 0 of samples (28, 28) has 28");
    rejects(R"([{"op":"cast","dtype":"float32"},{"op":"normalize","mean":[1,2],"std":[1,1],"axis":5}])",
            {dtype::uint8, {2}}, "axis 5 is out of range");
}

TEST_CASE("preprocess_plan.transpose_hwc_to_chw", "[ops][plan]") {
    // Two samples of shape (H=2, W=3, C=4), value = 100 * sample + 10 * (h * 3 + w) + c.
    std::vector<std::int32_t> hwc(2 * 24);
    for (int s = 0; s < 2; ++s)
        for (int p = 0; p < 6; ++p)
            for (int c = 0; c < 4; ++c) hwc[static_cast<std::size_t>(s * 24 + p * 4 + c)] = 100 * s + 10 * p + c;
    const auto plan = plan_for(R"([{"op":"transpose","axes":[2,0,1]}])", {dtype::int32, {2, 3, 4}});
    const auto chw = run<std::int32_t>(plan, hwc, 2);
    for (int s = 0; s < 2; ++s)
        for (int c = 0; c < 4; ++c)
            for (int p = 0; p < 6; ++p) CHECK(chw[static_cast<std::size_t>(s * 24 + c * 6 + p)] == 100 * s + 10 * p + c);
}

TEST_CASE("preprocess_plan.per_channel_normalize_along_last_axis", "[ops][plan]") {
    // Channels last (C = 3): channel c subtracts c and divides by c + 1.
    std::vector<float> x(2 * 5 * 3);
    std::iota(x.begin(), x.end(), 0.0f);
    const auto plan = plan_for(R"([{"op":"normalize","mean":[0,1,2],"std":[1,2,3],"axis":-1}])",
                               {dtype::float32, {5, 3}});
    const auto y = run<float>(plan, x, 2);
    for (std::size_t i = 0; i < x.size(); ++i) {
        const auto c = static_cast<float>(i % 3);
        CHECK(y[i] == (x[i] - c) / (c + 1));
    }
}

TEST_CASE("preprocess_plan.cast_alone_never_goes_through_float", "[ops][plan]") {
    const std::vector<std::int64_t> big{9007199254740993, -1, 5};
    const auto plan = plan_for(R"([{"op":"cast","dtype":"uint64"}])", {dtype::int64, {3}});
    CHECK(run<std::uint64_t>(plan, big, 1) == std::vector<std::uint64_t>{9007199254740993u, 0, 5});
}
