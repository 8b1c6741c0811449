// Keras HDF5 weight files against what numpy and h5py say they hold (fixtures written by
// tests/io/make_keras_h5_fixtures.py in Keras 2's layout), and every refusal.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/io/keras_h5.hpp"
#include "npyflow/io/npz_archive.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;

namespace {

const std::filesystem::path committed = NPYFLOW_KERAS_H5_FIXTURES;

nlohmann::json expected_meta(const std::filesystem::path& dir, const std::string& stem) {
    std::ifstream in(dir / (stem + ".expected.json"));
    return nlohmann::json::parse(in);
}

// Every name in order, and each array's dtype, shape and bytes exactly as numpy has them.
void check_against_expected(const keras_h5_contents& got, const std::filesystem::path& dir, const std::string& stem) {
    const auto meta = expected_meta(dir, stem);
    const npz_archive expected(dir / (stem + ".expected.npz"));
    std::vector<std::string> names;
    for (const auto& a : got.arrays)
        names.push_back(a.name);
    CHECK(names == meta["names"].get<std::vector<std::string>>());
    REQUIRE(got.arrays.size() == expected.members().size());
    for (const auto& a : got.arrays) {
        INFO(a.name);
        const npz_member* member = expected.find(a.name);
        REQUIRE(member != nullptr);
        const npy_array want = expected.load(*member);
        REQUIRE(want.header().is_native_layout());
        CHECK(name(a.array.header().type) == name(want.header().type));
        CHECK(a.array.header().shape == want.header().shape);
        CHECK(a.array.header().is_native_layout());
        REQUIRE(a.array.raw_data().size() == want.raw_data().size());
        CHECK(std::equal(a.array.raw_data().begin(), a.array.raw_data().end(), want.raw_data().begin()));
        CHECK_THAT(a.array.where(), Contains(a.name));
    }
    CHECK(got.keras_version == meta["keras_version"].get<std::string>());
    CHECK(got.backend == meta["backend"].get<std::string>());
    if (meta["model_config"].is_null()) {
        CHECK_FALSE(got.model_config.has_value());
    } else {
        REQUIRE(got.model_config.has_value());
        CHECK(*got.model_config == meta["model_config"].get<std::string>());
    }
}

std::string message_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const error& e) {
        return e.what();
    }
    FAIL("no npyflow::error was thrown");
    return "";
}

std::string refusal(const std::string& fixture) {
    return message_of([&] { (void)read_keras_h5(committed / fixture); });
}

}  // namespace

TEST_CASE("keras_h5.save_weights.names_order_dtypes_values", "[io][keras_h5]") {
    const auto got = read_keras_h5(committed / "save_weights.h5");
    check_against_expected(got, committed, "save_weights");
    // layer_names order (not the groups' alphabetical order), weight_names order within a layer.
    REQUIRE(got.arrays.size() == 11);
    CHECK(got.arrays[0].name == "conv2d/kernel:0");
    CHECK(got.arrays[2].name == "batch_normalization/gamma:0");
    CHECK(got.arrays[6].name == "lstm/lstm_cell/kernel:0");
    CHECK(got.arrays[10].name == "dense/bias:0");
    CHECK(got.arrays[0].array.header().shape == std::vector<std::uint64_t>{3, 3, 1, 4});
}

TEST_CASE("keras_h5.full_model.model_weights_and_config", "[io][keras_h5]") {
    const auto got = read_keras_h5(committed / "full_model.h5");
    check_against_expected(got, committed, "full_model");
    REQUIRE(got.arrays.size() == 4);  // optimizer_weights are not model weights
    CHECK(got.arrays[0].array.header().type == dtype::float64);
    CHECK(got.arrays[2].array.header().type == dtype::float16);
    const auto config = nlohmann::json::parse(*got.model_config);
    CHECK(config["class_name"] == "Sequential");
    CHECK(config["config"]["layers"].size() == 4);
}

TEST_CASE("keras_h5.dtypes.every_numpy_type_scalar_empty_big_endian", "[io][keras_h5]") {
    const auto got = read_keras_h5(committed / "dtypes.h5");
    check_against_expected(got, committed, "dtypes");
    REQUIRE(got.arrays.size() == 16);
    CHECK(got.arrays[0].array.header().type == dtype::bool_);
    CHECK(got.arrays[12].array.header().shape.empty());  // custom/step:0, a 0-d int64
    CHECK(got.arrays[13].array.header().shape == std::vector<std::uint64_t>{0, 3});
}

TEST_CASE("keras_h5.chunked_layer_names.layer_names0_layer_names1", "[io][keras_h5]") {
    const auto dir = test::fixture_dir("keras_h5");
    check_against_expected(read_keras_h5(dir / "chunked_attributes.h5"), dir, "chunked_attributes");
}

TEST_CASE("keras_h5.from_memory.same_as_from_file", "[io][keras_h5]") {
    for (const char* stem : {"save_weights", "full_model", "dtypes"}) {
        INFO(stem);
        const auto bytes = test::read_file(committed / (std::string(stem) + ".h5"));
        auto got = read_keras_h5(bytes, std::string(stem) + ".h5");
        check_against_expected(got, committed, stem);
        // The arrays own their data: they outlive the contents and the image.
        const npy_array first = got.arrays.front().array;
        const std::vector<std::byte> copy(first.raw_data().begin(), first.raw_data().end());
        got = {};
        CHECK(std::equal(copy.begin(), copy.end(), first.raw_data().begin()));
    }
}

TEST_CASE("keras_h5.looks_like_hdf5.signature_offsets", "[io][keras_h5]") {
    const auto file = test::read_file(committed / "save_weights.h5");
    CHECK(looks_like_hdf5(std::span(file).first(8)));
    CHECK_FALSE(looks_like_hdf5(std::span(file).first(7)));
    CHECK_FALSE(looks_like_hdf5({}));
    for (const std::size_t user_block : {std::size_t{512}, std::size_t{1024}, std::size_t{4096}}) {
        std::vector<std::byte> shifted(user_block, std::byte{'x'});
        shifted.insert(shifted.end(), file.begin(), file.begin() + 64);
        CHECK(looks_like_hdf5(shifted));
        CHECK(find_hdf5_signature(shifted) == user_block);
    }
    std::vector<std::byte> odd(100, std::byte{0});
    odd.insert(odd.end(), file.begin(), file.begin() + 8);  // not at a power of two
    CHECK_FALSE(looks_like_hdf5(odd));
    CHECK_FALSE(looks_like_hdf5(test::read_file(committed / "not_hdf5.h5")));
}

TEST_CASE("keras_h5.refused.not_hdf5", "[io][keras_h5]") {
    CHECK_THAT(refusal("not_hdf5.h5"), Contains("not_hdf5.h5: not an HDF5 file (no HDF5 signature"));
    CHECK_THAT(message_of([] { (void)read_keras_h5(committed / "no_such_file.h5"); }),
               Contains("no_such_file.h5: cannot read"));
    CHECK_THAT(message_of([] { (void)read_keras_h5(std::span<const std::byte>{}, "empty.h5"); }),
               Contains("empty.h5: not an HDF5 file"));
}

TEST_CASE("keras_h5.refused.truncated_at_several_points", "[io][keras_h5]") {
    test::scratch_dir dir;
    for (const char* stem : {"save_weights.h5", "full_model.h5"}) {
        const auto bytes = test::read_file(committed / stem);
        for (std::size_t cut : {std::size_t{8}, std::size_t{40}, std::size_t{96}, std::size_t{800}, bytes.size() / 3,
                                bytes.size() / 2, bytes.size() - 100, bytes.size() - 1}) {
            INFO(stem << " cut at " << cut);
            const std::span<const std::byte> head(bytes.data(), cut);
            const std::string in_memory = message_of([&] { (void)read_keras_h5(head, "cut.h5"); });
            CHECK_THAT(in_memory, Contains("cut.h5: cannot open as HDF5 (truncated or damaged?)"));
            const auto path = dir / "cut.h5";
            test::write_file(path, head);
            CHECK_THAT(message_of([&] { (void)read_keras_h5(path); }), Contains("cut.h5: cannot open as HDF5"));
            if (cut >= 800) CHECK_THAT(in_memory, Contains("truncated file"));  // HDF5's own words
        }
    }
}

TEST_CASE("keras_h5.refused.hdf5_without_keras_attributes_lists_top_level", "[io][keras_h5]") {
    CHECK_THAT(refusal("plain.h5"),
               Contains("plain.h5: /: not a Keras HDF5 weights file (no attribute layer_names at / or /model_weights); "
                        "its top level has groups: images; datasets: labels; attributes: created_by"));
}

TEST_CASE("keras_h5.refused.keras3_weights_h5", "[io][keras_h5]") {
    CHECK_THAT(refusal("keras3.weights.h5"),
               Contains("keras3.weights.h5: /: a Keras 3 weights file (.weights.h5: layers/<name>/vars/<index>)"));
}

TEST_CASE("keras_h5.refused.missing_weight_dataset", "[io][keras_h5]") {
    CHECK_THAT(refusal("missing_weight.h5"),
               Contains("missing_weight.h5: /dense: layer 'dense' lists weight 'dense/bias:0' in weight_names, but "
                        "there is no dataset /dense/dense/bias:0"));
}

TEST_CASE("keras_h5.refused.missing_layer_group", "[io][keras_h5]") {
    CHECK_THAT(refusal("missing_layer.h5"),
               Contains("missing_layer.h5: /: layer 'dense_1' is listed in layer_names but has no group /dense_1"));
}

TEST_CASE("keras_h5.refused.string_dataset", "[io][keras_h5]") {
    CHECK_THAT(refusal("string_weight.h5"),
               Contains("string_weight.h5: /dense/dense/kernel:0: is a string dataset, not numbers"));
}

TEST_CASE("keras_h5.refused.duplicate_weight_name", "[io][keras_h5]") {
    CHECK_THAT(refusal("duplicate_weight.h5"),
               Contains("duplicate_weight.h5: /b: weight 'shared/kernel:0' appears twice (in layers 'a' and 'b')"));
}

TEST_CASE("keras_h5.refused.external_link", "[io][keras_h5]") {
    CHECK_THAT(refusal("external_link.h5"),
               Contains("external_link.h5: /dense: dense/kernel:0 is an external link (to another file); refused"));
}
