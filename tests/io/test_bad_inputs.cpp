// Every class of bad input (tests/io/make_bad_inputs.py, run by CTest first) must be
// rejected by the library with an npyflow::error naming the file and the problem.

#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/npz_archive.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;

namespace {

// Reads everything a user could ask for: every header, then every member's data.
void read_everything(const std::filesystem::path& path) {
    if (path.extension() == ".npy") {
        const auto a = open_npy(path);
        std::vector<std::byte> rows(a.rows() * a.row_bytes());
        a.copy_rows(0, a.rows(), rows);
        return;
    }
    const npz_archive archive(path);
    for (const auto& m : archive.members()) archive.read_header(m);
    for (const auto& m : archive.members()) archive.load(m);
}

}  // namespace

TEST_CASE("bad_inputs.every_class_is_rejected_with_its_reason", "[io][bad_input]") {
    const auto dir = test::fixture_dir("bad");
    std::ifstream in(dir / "expected.json");
    const auto cases = nlohmann::json::parse(in);
    REQUIRE(cases.size() >= 45);
    for (const auto& c : cases) {
        const auto path = dir / c["file"].get<std::string>();
        INFO(path.string());
        CHECK_THROWS_AS(read_everything(path), error);
        CHECK_THROWS_WITH(read_everything(path), Contains(path.string()) && Contains(c["error"].get<std::string>()));
    }
}
