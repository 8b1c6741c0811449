#pragma once
// The .npy output of a streaming command, journaled so that a run that was killed, failed
// or interrupted can be finished by the same command with --resume (docs/reliability.md).
//
//   OUT.partial   the rows written so far (io/npy_writer)
//   OUT.journal   which of them are durable, and a fingerprint of the job (job_journal)
//
// Under MPI every rank writes its share of the rows: into the one OUT.partial at their
// offsets (rank 0 creates it and renames it when every rank has finished), each with its own
// journal OUT.rank<r>-of-<P>.journal; or, with --output-shards, into a file of its own,
// OUT-<r>-of-<P>.npy (docs/distributed.md). Without --resume, a journal left by an earlier
// run is an error that says how to resume or discard it; so are journals left by a run on
// another number of ranks, with or without --resume (their rows are split differently).
//
//   OUT.lock      held while the job runs (io/output_lock): a second job on OUT is refused
//
// Before committing, the files the job read while running are checked again: an input
// rewritten under the job is an error, and the output is not committed.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "npyflow/job/job_fingerprint.hpp"
#include "npyflow/job/job_paths.hpp"
#include "npyflow/job/rank_group.hpp"
#include "npyflow/io/background_writeback.hpp"
#include "npyflow/io/npy_writer.hpp"
#include "npyflow/io/output_lock.hpp"
#include "npyflow/pipeline/batch.hpp"
#include "npyflow/pipeline/checkpointer.hpp"
#include "npyflow/pipeline/job_journal.hpp"

namespace npyflow {

struct output_options {
    bool resume = false;
    double checkpoint_seconds = 5;
    bool shards = false;  // one file per rank instead of one shared file
};

// "scores.npy" as rank 1 of 3's shard: "scores-00001-of-00003.npy".
std::filesystem::path shard_path(const std::filesystem::path& output, int rank, int ranks);

class resumable_output {
public:
    // Every rank constructs it at once (the ranks agree on each step, so a failure on one
    // is an error on all). Starts the output, or continues it when options.resume and a
    // journal with the same fingerprint exists. Throws, saying what to do, when a journal is
    // in the way or records a different job.
    resumable_output(const std::filesystem::path& path, dtype type, std::vector<std::uint64_t> shape,
                     const job_fingerprint& fingerprint, const output_options& options, rank_group& ranks);

    // Every file such an output writes (the output or the shards, partial files, journals,
    // the lock), for the checks made before a job starts.
    static void list_files(job_paths& paths, const std::filesystem::path& path, const output_options& options,
                           const rank_group& ranks);
    ~resumable_output();  // without commit(): as abandon(), silently
    resumable_output(const resumable_output&) = delete;
    resumable_output& operator=(const resumable_output&) = delete;

    // The job's output was already complete (a run was killed after renaming it into place,
    // before removing its journal): nothing is left to do.
    bool already_complete() const { return complete_; }
    // The dataset rows this rank runs: from its journal's row (or its share's start) to its
    // share's end.
    std::uint64_t first_row() const { return journal_->progress().rows; }
    std::uint64_t end_row() const { return share_.end; }
    // What the sink had accumulated over the rows already done ({} for a new job).
    const nlohmann::json& resumed_sink_state() const { return journal_->progress().sink_state; }
    // Where this rank's rows go: the output, or its shard.
    const std::filesystem::path& file() const { return file_; }

    // From the sink, in input order: writes a batch's rows, records the progress and lets the
    // background writeback take the output to disk as it grows.
    void write(const batch& b, nlohmann::json sink_state = nlohmann::json::object());

    // Windows of the output the background writeback had on their way to disk before the
    // commit, and the seconds it waited for them (for --stats).
    std::uint64_t early_windows() const { return early_windows_; }
    double writeback_wait_seconds() const { return writeback_wait_; }

    // Once every row is written, on every rank: a last checkpoint, the check that no input
    // changed, the rename into place once every rank has finished, the journal removed.
    // Returns the seconds it took (mostly the flush to disk). When an input changed, the
    // partial file and journal are removed (their rows mix two versions) and it throws.
    double commit(bool on_terminal);

    // The job failed or was stopped: checkpoints what was written and keeps the partial file
    // and journal when they hold any rows. Returns a sentence saying what is kept and how
    // to resume.
    std::string abandon();

private:
    void stop_writeback();

    rank_group& ranks_;
    job_fingerprint fingerprint_;
    std::optional<output_lock> lock_;  // held by the rank that creates file_
    row_range share_;         // this rank's dataset rows
    bool shared_file_ = false;  // several ranks write file_
    std::uint64_t origin_ = 0;  // the dataset row of file_'s first row
    std::filesystem::path file_;
    std::optional<job_journal> journal_;
    std::unique_ptr<npy_writer> writer_;
    std::unique_ptr<background_writeback> writeback_;  // destroyed before writer_, whose file it writes
    std::unique_ptr<checkpointer> checkpoints_;
    std::uint64_t early_windows_ = 0;
    double writeback_wait_ = 0;
    bool done_ = false;  // committed or abandoned
    bool complete_ = false;  // found complete: nothing to do
    bool shard_renamed_ = false;  // this rank's shard was renamed by the run that was killed
};

}  // namespace npyflow
