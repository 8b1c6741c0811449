// torch.save checkpoints against the values PyTorch itself wrote next to them
// (tests/io/make_pickle_fixtures.py, committed); hostile ones are in test_pickle.cpp's list.

#include <filesystem>

#include <catch2/catch.hpp>

#include "npyflow/io/error.hpp"
#include "tests/io/pickle_fixtures.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

TEST_CASE("torch_checkpoint.fixtures.match_pytorch_exactly", "[io][torch]") {
    // state_dict (BatchNorm's num_batches_tracked), views of one storage (w.t(), rows, columns, a
    // tail), checkpoint (under "model"), a dict in a dict, every dtype (bfloat16 widened), parameters,
    // a list, and big-endian storages.
    std::size_t checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(test::pickle_fixture(""))) {
        if (entry.path().extension() != ".pth" || entry.path().filename() == "checkpoint_adam.pth") continue;
        INFO(entry.path().filename().string());
        test::check_matches_expected(test::read_weights(entry.path()), entry.path().string() + ".expected.npz");
        ++checked;
    }
    CHECK(checked == 8);
}

TEST_CASE("torch_checkpoint.state_dict.names_and_shapes", "[io][torch]") {
    const auto arrays = test::read_weights(test::pickle_fixture("state_dict.pth"));
    REQUIRE(arrays.size() == 9);
    CHECK(arrays[0].name == "0.weight");
    CHECK(arrays[0].array.header().shape == std::vector<std::uint64_t>{3, 4});
    CHECK(arrays[6].name == "1.num_batches_tracked");
    CHECK(arrays[6].array.header().type == dtype::int64);
    CHECK(arrays[6].array.header().shape.empty());
    CHECK(arrays[0].array.where() == "state_dict.pth: 0.weight");
}

// Adam's per-parameter state ({0: {"exp_avg": ...}}) is dicts of arrays under integer keys:
// never a model's weights, so the model's state_dict is the one dict of arrays left.
TEST_CASE("torch_checkpoint.optimizer_state.is_not_taken_for_weights", "[io][torch]") {
    const auto path = test::pickle_fixture("checkpoint_adam.pth");
    test::check_matches_expected(test::read_weights(path), path.string() + ".expected.npz");
    test::check_matches_expected(test::read_weights(path, "model"), path.string() + ".expected.npz");
    const auto moments = test::read_weights(path, "optimizer/state/0");
    REQUIRE(moments.size() == 3);
    CHECK(moments[1].name == "exp_avg");
}

TEST_CASE("torch_checkpoint.truncated_or_damaged.is_an_error", "[io][torch][hostile]") {
    const auto bytes = test::read_file(test::pickle_fixture("views.pth"));
    for (std::size_t n = 0; n < bytes.size(); n += 5) {
        INFO("first " << n << " bytes");
        CHECK_THROWS_AS(test::read_weights_bytes(std::span(bytes).first(n), "v.pth"), error);
    }
    // One flipped bit in a storage: its CRC-32 says so, naming the member.
    auto damaged = bytes;
    const std::string_view member = "views/data/0";
    const auto at = std::search(damaged.begin(), damaged.end(), reinterpret_cast<const std::byte*>(member.data()),
                                reinterpret_cast<const std::byte*>(member.data() + member.size()));
    REQUIRE(at != damaged.end());
    *(at + static_cast<std::ptrdiff_t>(member.size()) + 20) ^= std::byte{1};  // in the data, which torch aligns to 64 bytes
    CHECK_THROWS_WITH(test::read_weights_bytes(damaged, "v.pth"),
                      StartsWith("v.pth: views/data/0: CRC-32 mismatch"));
}
