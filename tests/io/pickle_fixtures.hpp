#pragma once
// Shared by the pickle and torch checkpoint tests: the committed fixtures of
// make_pickle_fixtures.py, and the comparison of what npyflow read with numpy's own .npz.

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "npyflow/io/npz_archive.hpp"
#include "npyflow/io/pickled_arrays.hpp"
#include "npyflow/io/pickled_npy.hpp"
#include "npyflow/io/torch_checkpoint.hpp"
#include "tests/test_support.hpp"

namespace npyflow::test {

inline std::filesystem::path pickle_fixture(const std::string& name) {
    return std::filesystem::path(NPYFLOW_PICKLE_FIXTURES) / name;
}

// Reads a weights file the way its extension says; `where` is its file name.
inline std::vector<named_array> read_weights_bytes(std::span<const std::byte> bytes, const std::string& file_name,
                                                   std::string_view key = {}) {
    const auto ext = std::filesystem::path(file_name).extension();
    if (ext == ".npy") return read_pickled_npy(bytes, key, file_name);
    if (ext == ".pth") return read_torch_checkpoint(bytes, key, file_name);
    return read_pickle(bytes, key, file_name);
}

inline std::vector<named_array> read_weights(const std::filesystem::path& path, std::string_view key = {}) {
    const auto bytes = read_file(path);
    return read_weights_bytes(bytes, path.filename().string(), key);
}

inline std::vector<std::byte> c_order_bytes(const npy_array& a) {
    std::vector<std::byte> out(a.rows() * a.row_bytes());
    a.copy_rows(0, a.rows(), out);
    return out;
}

// Every name in order, and each array's dtype, shape and bytes, exactly as numpy wrote them.
inline void check_matches_expected(const std::vector<named_array>& got, const std::filesystem::path& expected_npz) {
    const npz_archive expected(expected_npz);
    REQUIRE(got.size() == expected.members().size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        const auto& member = expected.members()[i];
        INFO(expected_npz.filename().string() << ": " << member.key);
        CHECK(got[i].name == member.key);
        const auto want = expected.load(member);
        const auto& have = got[i].array;
        CHECK(have.header().type == want.header().type);
        CHECK(have.header().shape == want.header().shape);
        CHECK(have.header().is_native_layout());
        CHECK(have.where() == expected_npz.filename().string().substr(0, expected_npz.filename().string().size() -
                                                                              std::string(".expected.npz").size()) +
                                  ": " + member.key);
        CHECK(c_order_bytes(have) == c_order_bytes(want));
    }
}

// hostile/expected.txt: "file<TAB>words the refusal must hold" per line.
inline std::vector<std::pair<std::string, std::string>> hostile_cases() {
    std::ifstream in(pickle_fixture("hostile") / "expected.txt");
    std::vector<std::pair<std::string, std::string>> cases;
    for (std::string line; std::getline(in, line);) {
        const auto tab = line.find('\t');
        if (tab != std::string::npos) cases.emplace_back(line.substr(0, tab), line.substr(tab + 1));
    }
    return cases;
}

}  // namespace npyflow::test
