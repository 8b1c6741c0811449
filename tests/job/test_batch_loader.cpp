// The data loader (job/batch_loader) and the shuffled batch orders beneath it: every row
// once, in order or in a seeded order of whole batches, for any batch, prefetch and threads;
// a pass dropped early stops its pipeline; errors name what is wrong. Runs under ASan and
// TSan (labels job and pipeline).

#include <algorithm>
#include <cstring>
#include <numeric>

#include <catch2/catch.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_writer.hpp"
#include "npyflow/job/batch_loader.hpp"
#include "npyflow/pipeline/batch_order.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;
using test::bytes_of;

namespace {

// Row r holds the uint32 values r and r + 1000000.
std::filesystem::path numbered_rows(const test::scratch_dir& dir, std::uint64_t rows) {
    std::vector<std::uint32_t> v(rows * 2);
    for (std::uint32_t r = 0; r < rows; ++r) {
        v[2 * r] = r;
        v[2 * r + 1] = r + 1000000;
    }
    write_npy(dir / "rows.npy", dtype::uint32, {rows, 2}, bytes_of(v));
    return dir / "rows.npy";
}

// The first value of every row of every batch of a pass, in the order they came.
std::vector<std::uint32_t> rows_of(batch_loader::pass& pass) {
    std::vector<std::uint32_t> seen;
    while (auto b = pass.next()) {
        REQUIRE(b->data.size() == b->rows * 8);
        for (std::uint64_t r = 0; r < b->rows; ++r) {
            std::uint32_t v[2];
            std::memcpy(v, b->data.data() + r * 8, 8);
            REQUIRE(v[0] == b->first_row + r);
            REQUIRE(v[1] == v[0] + 1000000);
            seen.push_back(v[0]);
        }
    }
    return seen;
}

}  // namespace

TEST_CASE("batch_order.shuffled_is_a_seeded_permutation", "[batch_loader]") {
    const auto a = shuffled_batch_order(1000, 42);
    CHECK(shuffled_batch_order(1000, 42) == a);
    CHECK(shuffled_batch_order(1000, 43) != a);
    check_batch_order(a, 1000);
    std::vector<std::uint64_t> sorted = a;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::uint64_t> all(1000);
    std::iota(all.begin(), all.end(), 0);
    CHECK(sorted == all);
    CHECK(a != all);
    CHECK_THROWS_WITH(check_batch_order({0, 0, 2}, 3), Contains("batch 0 is named twice"));
    CHECK_THROWS_WITH(check_batch_order({0, 3, 1}, 3), Contains("batch 3 is past the run's batches"));
    CHECK_THROWS_WITH(check_batch_order({0, 1}, 3), Contains("names 2 batches; the run has 3"));
}

TEST_CASE("batch_loader.every_row_once_in_order_or_shuffled", "[batch_loader]") {
    const test::scratch_dir dir;
    const auto path = numbered_rows(dir, 1001);
    for (const std::uint64_t batch : {1u, 10u, 64u, 1001u, 5000u}) {
        for (const unsigned threads : {1u, 4u}) {
            for (const bool shuffle : {false, true}) {
                batch_loader_options o;
                o.inputs = {path};
                o.batch_rows = batch;
                o.threads = threads;
                o.prefetch = threads == 1 ? 1 : 3;
                o.shuffle = shuffle;
                o.seed = 9;
                const batch_loader loader(o);
                CHECK(loader.batches() == (1001 + batch - 1) / batch);
                auto seen = rows_of(*loader.start(0));
                REQUIRE(seen.size() == 1001);
                if (shuffle && batch < 1001) CHECK(!std::is_sorted(seen.begin(), seen.end()));
                if (!shuffle) CHECK(std::is_sorted(seen.begin(), seen.end()));
                std::sort(seen.begin(), seen.end());
                CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
                CHECK(seen.front() == 0);
                CHECK(seen.back() == 1000);
            }
        }
    }
}

TEST_CASE("batch_loader.ranks_take_a_jobs_shares", "[batch_loader]") {
    const test::scratch_dir dir;
    const auto path = numbered_rows(dir, 100);
    std::vector<std::uint32_t> all;
    for (int r = 0; r < 3; ++r) {
        batch_loader_options o;
        o.inputs = {path};
        o.batch_rows = 7;
        o.start = 5;
        o.stop = 95;
        o.rank = r;
        o.ranks = 3;
        const batch_loader loader(o);
        const auto seen = rows_of(*loader.start());
        CHECK(loader.rows() == 30);
        CHECK(seen.front() == static_cast<std::uint32_t>(5 + 30 * r));
        all.insert(all.end(), seen.begin(), seen.end());
    }
    CHECK(all.size() == 90);
    CHECK(std::is_sorted(all.begin(), all.end()));
}

TEST_CASE("batch_loader.a_pass_dropped_early_stops_its_pipeline", "[batch_loader]") {
    const test::scratch_dir dir;
    const auto path = numbered_rows(dir, 10000);
    batch_loader_options o;
    o.inputs = {path};
    o.batch_rows = 10;
    o.prefetch = 2;
    o.threads = 2;
    const batch_loader loader(o);
    for (int i = 0; i < 50; ++i) {
        auto pass = loader.start(static_cast<std::uint64_t>(i));
        REQUIRE(pass->next());
        // The pipeline is held back by the full queue; dropping the pass must end it.
    }
    CHECK(rows_of(*loader.start()).size() == 10000);
}

TEST_CASE("batch_loader.errors_name_what_is_wrong", "[batch_loader]") {
    const test::scratch_dir dir;
    const auto path = numbered_rows(dir, 10);
    const auto refused = [&](auto change, const std::string& message) {
        batch_loader_options o;
        o.inputs = {path};
        change(o);
        CHECK_THROWS_WITH(batch_loader(o), Contains(message));
    };
    refused([](auto& o) { o.inputs.clear(); }, "at least one .npy");
    refused([](auto& o) { o.batch_rows = 0; }, "batch must be at least 1");
    refused([](auto& o) { o.rank = 3, o.ranks = 3; }, "rank 3 of 3");
    refused([](auto& o) { o.start = 11; }, "start 11 is past the 10 rows");
    refused([](auto& o) { o.preprocess = nlohmann::json::object(); }, "must be a list of ops");
    refused([](auto& o) { o.preprocess = nlohmann::json::parse(R"([{"op": "blur"}])"); }, "blur");
    write_npy(dir / "labels.npy", dtype::int64, {9}, bytes_of(std::vector<std::int64_t>(9, 0)));
    refused([&](auto& o) { o.labels = dir / "labels.npy"; }, "9 rows, but the dataset has 10");
}
