#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_writer.hpp"
#include "npyflow/pipeline/pipeline.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;
using test::bytes_of;

namespace {

// A .npy of `rows` rows of 3 uint32 values, value = 3 * row + column + offset.
std::filesystem::path counting_file(const test::scratch_dir& dir, const std::string& name, std::uint64_t rows,
                                    std::uint32_t offset = 0) {
    std::vector<std::uint32_t> v(rows * 3);
    std::iota(v.begin(), v.end(), offset);
    write_npy(dir / name, dtype::uint32, {rows, 3}, bytes_of(v));
    return dir / name;
}

// A stage that sleeps a random while and then triples every value into the batch's scratch.
stage slow_tripling_stage() {
    return {"triple", [](batch& b) {
                thread_local std::mt19937 rng(std::random_device{}());
                std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
                auto& out = b.scratch[0];
                out.resize(b.data.size());
                for (std::size_t i = 0; i < b.data.size(); i += 4) {
                    std::uint32_t v;
                    std::memcpy(&v, b.data.data() + i, 4);
                    v *= 3;
                    std::memcpy(out.data() + i, &v, 4);
                }
                b.data = out;
            }};
}

}  // namespace

TEST_CASE("pipeline.ordering.random_stage_delays_8threads", "[pipeline]") {
    test::scratch_dir dir;
    const dataset input({counting_file(dir, "a.npy", 1000)});
    std::vector<std::uint64_t> seen_batches;
    std::vector<std::uint32_t> out;
    const auto report = run_pipeline(input, {slow_tripling_stage()},
                                     [&](const batch& b) {
                                         seen_batches.push_back(b.index);
                                         const auto* p = reinterpret_cast<const std::uint32_t*>(b.data.data());
                                         out.insert(out.end(), p, p + b.rows * 3);
                                     },
                                     {.batch_rows = 7, .threads = 8, .prefetch = 8});
    CHECK(report.rows == 1000);
    CHECK(report.batches == 143);  // 142 full batches and a last one of 6 rows, kept
    std::vector<std::uint64_t> expected_batches(143);
    std::iota(expected_batches.begin(), expected_batches.end(), 0u);
    CHECK(seen_batches == expected_batches);
    REQUIRE(out.size() == 3000);
    for (std::uint32_t i = 0; i < 3000; ++i) {
        if (out[i] != 3 * i) FAIL("value " << i << " is " << out[i]);
    }
    CHECK(report.stages.size() == 3);
    CHECK(report.stages[1].name == "triple");
    CHECK(report.stages[1].batches == 143);
}

TEST_CASE("pipeline.bound.live_batches_never_exceed_prefetch", "[pipeline]") {
    test::scratch_dir dir;
    const dataset input({counting_file(dir, "a.npy", 2000)});
    for (unsigned prefetch : {1u, 3u, 6u}) {
        std::atomic<int> live{0}, max_live{0};
        const stage count_in{"count", [&](batch&) {
                                 const int now = ++live;
                                 for (int seen = max_live; now > seen && !max_live.compare_exchange_weak(seen, now);) {
                                 }
                             }};
        const auto report = run_pipeline(input, {count_in, slow_tripling_stage()}, [&](const batch&) { --live; },
                                         {.batch_rows = 16, .threads = 4, .prefetch = prefetch});
        INFO("prefetch " << prefetch);
        CHECK(max_live.load() <= static_cast<int>(prefetch));
        CHECK(report.max_in_flight <= prefetch);
        CHECK(report.max_in_flight >= 1);
        CHECK(report.rows == 2000);
    }
}

TEST_CASE("pipeline.cancel.stage_error_names_stage_and_rows_and_leaves_no_output", "[pipeline]") {
    test::scratch_dir dir;
    const auto path = counting_file(dir, "in.npy", 1000);
    const dataset input({path});
    const auto out = dir / "out.npy";
    std::atomic<std::uint64_t> sunk{0};
    const stage explode{"explode", [](batch& b) {
                            if (b.first_row == 500) throw std::runtime_error("bad value");
                        }};
    {
        npy_writer writer(out, dtype::uint32, {1000, 3});
        CHECK_THROWS_WITH(
            run_pipeline(input, {explode}, [&](const batch& b) { writer.write_rows(b.first_row, b.data), sunk += b.rows; },
                         {.batch_rows = 50, .threads = 4, .prefetch = 4}),
            Contains("stage 'explode' failed on " + path.string() + " rows [500, 550): bad value"));
    }
    CHECK(sunk.load() <= 500);  // nothing after the failed batch reached the sink
    CHECK_FALSE(std::filesystem::exists(out));
    CHECK_FALSE(std::filesystem::exists(dir / "out.npy.partial"));
}

TEST_CASE("pipeline.stop_flag_ends_the_run_early", "[pipeline]") {
    test::scratch_dir dir;
    const dataset input({counting_file(dir, "in.npy", 1000)});
    std::atomic<bool> stop{false};
    CHECK_THROWS_WITH(run_pipeline(input, {}, [&](const batch&) { stop = true; },
                                   {.batch_rows = 10, .threads = 2, .prefetch = 2,
                                    .should_stop = [&] { return stop.load(); }}),
                      Contains("interrupted after") && Contains("of 1000 rows"));
}

TEST_CASE("dataset.multi_file.concatenates_mixed_layouts", "[pipeline][dataset]") {
    test::scratch_dir dir;
    // Three parts: 10 rows, an empty file, and 25 rows stored big endian in Fortran order.
    const auto a = counting_file(dir, "a.npy", 10);
    const auto empty = counting_file(dir, "empty.npy", 0);
    std::vector<std::uint32_t> fortran_big(25 * 3);
    for (std::uint32_t r = 0; r < 25; ++r) {
        for (std::uint32_t c = 0; c < 3; ++c) {
            const std::uint32_t v = 30 + 3 * r + c;
            fortran_big[c * 25 + r] = __builtin_bswap32(v);
        }
    }
    const std::string header = format_npy_header(dtype::uint32, {25, 3}, true, byte_order::big);
    std::vector<std::byte> file(header.size() + 300);
    std::memcpy(file.data(), header.data(), header.size());
    std::memcpy(file.data() + header.size(), fortran_big.data(), 300);
    test::write_file(dir / "b.npy", file);

    const dataset input({a, empty, dir / "b.npy"});
    CHECK(input.rows() == 35);
    CHECK(input.row_shape() == std::vector<std::uint64_t>{3});
    std::vector<std::uint32_t> out;
    run_pipeline(input, {}, [&](const batch& b) {
        const auto* p = reinterpret_cast<const std::uint32_t*>(b.data.data());
        out.insert(out.end(), p, p + b.rows * 3);
    }, {.batch_rows = 8, .threads = 2});
    std::vector<std::uint32_t> expected(105);
    std::iota(expected.begin(), expected.end(), 0u);
    CHECK(out == expected);
    CHECK(input.describe_rows(8, 4) == a.string() + " rows [8, 10) and " + (dir / "b.npy").string() + " rows [0, 2)");

    std::vector<std::byte> scratch;
    const auto view = input.read_rows(2, 3, scratch);
    CHECK(scratch.empty());  // rows inside one native file are a view, not a copy
    CHECK(view.size() == 36);
}

TEST_CASE("dataset.mismatched_inputs_are_rejected", "[pipeline][dataset]") {
    test::scratch_dir dir;
    const auto a = counting_file(dir, "a.npy", 4);
    std::vector<std::uint32_t> wide(4 * 4);
    write_npy(dir / "wide.npy", dtype::uint32, {4, 4}, bytes_of(wide));
    std::vector<float> floats(4 * 3);
    write_npy(dir / "floats.npy", dtype::float32, {4, 3}, bytes_of(floats));
    CHECK_THROWS_WITH(dataset({a, dir / "wide.npy"}),
                      Contains("wide.npy: rows are uint32 (4,), but " + a.string() + " has rows of uint32 (3,)"));
    CHECK_THROWS_WITH(dataset({a, dir / "floats.npy"}), Contains("rows are float32 (3,)"));
    const float scalar = 1;
    write_npy(dir / "scalar.npy", dtype::float32, {}, std::as_bytes(std::span(&scalar, 1)));
    CHECK_THROWS_WITH(dataset({dir / "scalar.npy"}), Contains("a 0-d array has no rows"));
    CHECK_THROWS_WITH(dataset({}), Contains("no input files"));
    const dataset ok({a});
    CHECK_THROWS_WITH(run_pipeline(ok, {}, [](const batch&) {}, {.batch_rows = 0}), Contains("at least 1"));
}
