// Files written by numpy itself (tests/io/make_numpy_fixtures.py, run by CTest first):
// every header field and every row must match what numpy says the file holds.

#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/npz_archive.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;

namespace {

void check_array(const npy_array& a, const nlohmann::json& expected, const std::filesystem::path& dir) {
    INFO(a.where());
    const auto& h = a.header();
    CHECK(name(h.type) == expected["dtype"].get<std::string>());
    CHECK(h.shape == expected["shape"].get<std::vector<std::uint64_t>>());
    CHECK(h.fortran_order == expected["fortran_order"].get<bool>());
    CHECK(name(h.order) == expected["byte_order"].get<std::string>());
    CHECK(h.data_bytes() == expected["nbytes"].get<std::uint64_t>());

    // Rows converted to C order, little endian, must equal numpy's own conversion,
    // whole and in two uneven pieces.
    const auto raw = test::read_file(dir / expected["raw"].get<std::string>());
    std::vector<std::byte> rows(a.rows() * a.row_bytes());
    a.copy_rows(0, a.rows(), rows);
    CHECK(rows == raw);
    if (a.rows() >= 3) {
        std::vector<std::byte> tail((a.rows() - 2) * a.row_bytes());
        a.copy_rows(2, a.rows() - 2, tail);
        CHECK(std::equal(tail.begin(), tail.end(), raw.begin() + static_cast<std::ptrdiff_t>(2 * a.row_bytes())));
    }
    if (h.is_native_layout()) {
        const auto view = a.row_view(0, a.rows());
        CHECK(std::equal(view.begin(), view.end(), raw.begin(), raw.end()));
    }
}

}  // namespace

TEST_CASE("numpy_files.every_file_numpy_wrote_reads_as_numpy_says", "[io][numpy]") {
    const auto dir = test::fixture_dir("numpy");
    std::ifstream in(dir / "manifest.json");
    const auto manifest = nlohmann::json::parse(in);
    REQUIRE(manifest["files"].size() > 50);
    for (const auto& file : manifest["files"]) {
        const auto path = dir / file["path"].get<std::string>();
        const auto& arrays = file["arrays"];
        if (path.extension() == ".npy") {
            check_array(open_npy(path), arrays[0], dir);
            continue;
        }
        const npz_archive archive(path);
        REQUIRE(archive.members().size() == arrays.size());
        for (std::size_t i = 0; i < arrays.size(); ++i) {
            CHECK(archive.members()[i].key == arrays[i]["name"].get<std::string>());
            check_array(archive.load(archive.members()[i]), arrays[i], dir);
        }
    }
}
