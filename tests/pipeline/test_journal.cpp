// The journal of a resumable job, its checkpoints, and the pipeline starting mid-dataset.
#include <atomic>
#include <fstream>
#include <numeric>
#include <thread>

#include <catch2/catch.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_writer.hpp"
#include "npyflow/pipeline/checkpointer.hpp"
#include "npyflow/pipeline/job_journal.hpp"
#include "npyflow/pipeline/pipeline.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;
using namespace std::chrono_literals;

namespace {

// Whether the journal on disk records more rows than `synced` (read after the journal).
bool journal_claims_more_than(const std::filesystem::path& out, const std::atomic<std::uint64_t>& synced) {
    const auto journal = job_journal::read(job_journal::path_for(out), out);
    return journal && journal->progress().rows > synced.load();
}

}  // namespace

TEST_CASE("job_journal.round_trip_and_bad_files", "[pipeline][journal]") {
    test::scratch_dir dir;
    const auto out = dir / "out.npy";
    const auto path = job_journal::path_for(out);
    const auto partial = dir / "out.npy.partial";
    CHECK(job_journal::path_for(out, 1, 3) == dir / "out.npy.rank1-of-3.journal");
    CHECK_FALSE(job_journal::read(path, partial).has_value());
    job_journal journal(path, {{"command", "score"}}, 1000);
    journal.save({300, {{"correct", 250}}});
    CHECK(std::filesystem::exists(dir / "out.npy.journal"));
    CHECK_FALSE(std::filesystem::exists(dir / "out.npy.journal.partial"));
    const auto read = job_journal::read(path, partial);
    REQUIRE(read.has_value());
    CHECK(read->total_rows() == 1000);
    CHECK(read->progress().rows == 300);
    CHECK(read->progress().sink_state["correct"] == 250);
    CHECK(read->fingerprint() == nlohmann::json{{"command", "score"}});

    for (const std::string text : {"{\"version\": 1, \"rows_", "{\"version\": 2}", "[]",
                                   R"({"version":1,"total_rows":10,"rows_done":11,"sink_state":{},"fingerprint":{}})"}) {
        std::ofstream(dir / "out.npy.journal") << text;
        CHECK_THROWS_WITH(job_journal::read(path, partial),
                          Contains("out.npy.journal: not a journal npyflow can resume from (") &&
                              Contains("delete it and") && Contains("out.npy.partial to start over"));
    }
    journal.remove();
    CHECK_FALSE(std::filesystem::exists(dir / "out.npy.journal"));
}

TEST_CASE("job_journal.fingerprint_differences_name_what_changed", "[pipeline][journal]") {
    const nlohmann::json before = {{"command", "score"},
                                   {"option --output", "logits"},
                                   {"input 0 /d/a.npy", {{"size", 100}, {"mtime", "1.0"}, {"hash", "aa"}}},
                                   {"labels /d/l.npy", {{"size", 8}}}};
    CHECK(fingerprint_differences(before, before).empty());
    auto after = before;
    after["option --output"] = "probs";
    after["input 0 /d/a.npy"]["size"] = 50;
    after["input 0 /d/a.npy"]["hash"] = "bb";
    after.erase("labels /d/l.npy");
    after["weights /d/w.npz"] = {{"size", 1}};
    const auto lines = fingerprint_differences(before, after);
    CHECK(lines == std::vector<std::string>{"input 0 /d/a.npy: hash \"aa\" -> \"bb\", size 100 -> 50",
                                            "labels /d/l.npy: part of the journaled job, but not of this one",
                                            "option --output: \"logits\" -> \"probs\"",
                                            "weights /d/w.npz: not part of the journaled job"});
}

TEST_CASE("checkpointer.journal_never_claims_rows_that_were_not_synced", "[pipeline][journal]") {
    test::scratch_dir dir;
    job_journal journal(job_journal::path_for(dir / "out.npy"), {}, 1'000'000);
    std::atomic<std::uint64_t> written{0}, synced{0};
    std::atomic<bool> claimed_too_much{false};
    {
        checkpointer checkpoints(
            journal,
            [&] {
                synced = written.load();
                // Whatever the journal is about to record must already have been written.
                std::this_thread::sleep_for(1ms);
            },
            2ms);
        for (std::uint64_t rows = 1000; rows <= 1'000'000; rows += 1000) {
            written = rows;
            checkpoints.advance({rows, {{"n", rows}}});
            if (journal_claims_more_than(dir / "out.npy", synced)) claimed_too_much = true;
        }
        CHECK(checkpoints.finish().rows == 1'000'000);
    }
    CHECK_FALSE(claimed_too_much);
    const auto read = job_journal::read(job_journal::path_for(dir / "out.npy"), dir / "out.npy.partial");
    REQUIRE(read.has_value());
    CHECK(read->progress().rows == 1'000'000);
    CHECK(read->progress().sink_state["n"] == 1'000'000);
}

TEST_CASE("checkpointer.a_failed_sync_stops_the_job_and_keeps_the_last_checkpoint", "[pipeline][journal]") {
    test::scratch_dir dir;
    job_journal journal(job_journal::path_for(dir / "out.npy"), {}, 100);
    std::atomic<bool> disk_full{false};
    checkpointer checkpoints(
        journal, [&] { if (disk_full) throw error("out.npy.partial: cannot flush: No space left on device"); }, 1ms);
    checkpoints.advance({10, {}});
    // The journal object belongs to the checkpoint thread until finish(): watch the file.
    const auto on_disk = [&] {
        const auto read = job_journal::read(job_journal::path_for(dir / "out.npy"), dir / "out.npy.partial");
        return read ? read->progress().rows : 0;
    };
    while (on_disk() != 10) std::this_thread::sleep_for(1ms);
    disk_full = true;
    checkpoints.advance({20, {}});
    // The failure reaches the sink at its next batch.
    CHECK_THROWS_WITH(
        [&] {
            for (int i = 0; i < 10'000; ++i) {
                checkpoints.advance({20, {}});
                std::this_thread::sleep_for(1ms);
            }
        }(),
        Contains("No space left on device"));
    CHECK_THROWS_WITH(checkpoints.finish(), Contains("No space left on device"));
    CHECK(journal.progress().rows == 10);
    CHECK(on_disk() == 10);
}

TEST_CASE("pipeline.first_row_starts_a_resumed_run_mid_dataset", "[pipeline][journal]") {
    test::scratch_dir dir;
    std::vector<std::uint32_t> v(1000);
    std::iota(v.begin(), v.end(), 0);
    write_npy(dir / "a.npy", dtype::uint32, {1000}, test::bytes_of(v));
    const dataset input({dir / "a.npy"});
    std::vector<std::uint32_t> seen;
    pipeline_options options;
    options.batch_rows = 64;
    options.first_row = 333;
    options.threads = 2;
    const auto report = run_pipeline(input, {}, [&](const batch& b) {
        const auto* p = reinterpret_cast<const std::uint32_t*>(b.data.data());
        seen.insert(seen.end(), p, p + b.rows);
    }, options);
    CHECK(report.first_row == 333);
    CHECK(report.rows == 667);
    CHECK(report.batches == 11);
    CHECK(seen == std::vector<std::uint32_t>(v.begin() + 333, v.end()));
    options.first_row = 1000;
    CHECK(run_pipeline(input, {}, [](const batch&) { FAIL("no batch is left"); }, options).rows == 0);
    options.first_row = 1001;
    CHECK_THROWS_WITH(run_pipeline(input, {}, [](const batch&) {}, options),
                      Contains("cannot start at row 1001: the rows end at 1000"));
}

TEST_CASE("pipeline.input_truncated_during_a_run_is_an_error_naming_the_file", "[pipeline][truncation]") {
    test::scratch_dir dir;
    std::vector<std::uint8_t> v(4096 * 64, 5);
    write_npy(dir / "a.npy", dtype::uint8, {4096, 64}, test::bytes_of(v));
    const dataset input({dir / "a.npy"});
    const stage sum{"sum", [](batch& b) {
                        unsigned total = 0;
                        for (auto byte : b.data) total += static_cast<unsigned>(byte);
                        if (total != 5u * b.data.size()) throw error("a zero crept in");
                    }};
    pipeline_options options;
    options.batch_rows = 64;
    options.threads = 2;
    std::uint64_t written = 0;
    CHECK_THROWS_WITH(run_pipeline(input, {sum}, [&](const batch& b) {
        written += b.rows;
        if (written == 640) std::filesystem::resize_file(dir / "a.npy", 2000);  // under the running job
    }, options),
                      Contains("stage '") && Contains("a.npy: the file was truncated while being read (it is now "
                                                      "2000 bytes; it was 262272 when opened)"));
}
