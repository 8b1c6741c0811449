#include "cli/resumable_output.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "io/error.hpp"

namespace npyflow::cli {
void add_output_options(CLI::App* command, output_options& options) {
    command->add_flag("--resume", options.resume,
                      "Finish the job an earlier run of the same command left unfinished (killed, failed or "
                      "interrupted), from its OUT.journal; refused if the inputs, model, weights or options changed. "
                      "Without a journal, starts from the beginning");
    command->add_option("--checkpoint-every", options.checkpoint_seconds,
                        "Seconds between checkpoints: the output written so far is flushed to disk and recorded "
                        "in OUT.journal, off the pipeline's threads")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    command->add_flag("--output-shards", options.shards,
                      "Under mpirun: each rank writes its rows to a file of its own, OUT-<rank>-of-<ranks>.npy "
                      "(for ranks without a shared filesystem); 'npyflow concat' joins them");
}

std::filesystem::path shard_path(const std::filesystem::path& output, int rank, int ranks) {
    auto name = output.stem();
    name += fmt::format("-{:05}-of-{:05}", rank, ranks);
    name += output.extension();
    return output.parent_path() / name;
}

resumable_output::resumable_output(const std::filesystem::path& path, dtype type, std::vector<std::uint64_t> shape,
                                   nlohmann::json fingerprint, const output_options& options, rank_group& ranks)
    : ranks_(ranks) {
    const std::uint64_t total_rows = shape.empty() ? 1 : shape[0];
    share_ = ranks.share(total_rows);
    shared_file_ = ranks.distributed() && !options.shards;
    file_ = options.shards ? shard_path(path, ranks.rank(), ranks.size()) : path;
    row_range own = share_;  // in file_'s rows
    if (options.shards) {
        origin_ = share_.begin;
        shape.at(0) = share_.rows();
        own = {0, share_.rows()};
    }
    // A different number of ranks means different shares: not the journaled job.
    fingerprint["ranks"] = ranks.size();
    fingerprint["output"] = options.shards ? "shards" : "one file";
    const auto partial = partial_file::partial_path_for(file_);
    const auto journal_path = job_journal::path_for(file_, shared_file_ ? ranks.rank() : 0,
                                                    shared_file_ ? ranks.size() : 1);

    ranks.agree([&] {
        journal_ = job_journal::read(journal_path, partial);
        if (journal_ && !options.resume) {
            throw error(fmt::format("{}: an earlier run of a job writing this output stopped after {} of {} rows, kept "
                                    "in {} (journal {}); run the same command with --resume to finish it, or delete "
                                    "both files to start over",
                                    file_.string(), journal_->progress().rows, journal_->total_rows(), partial.string(),
                                    journal_path.string()));
        }
        if (!journal_) return;
        const auto changes = fingerprint_differences(journal_->fingerprint(), fingerprint);
        if (!changes.empty()) {
            throw error(fmt::format("{}: cannot resume: the job is not the one journaled; delete it and {} to start "
                                    "over. What changed:\n{}",
                                    journal_path.string(), partial.string(), fmt::join(changes, "\n")));
        }
    });
    // A run killed between renaming the output into place and removing its journals: the
    // output is complete. The rename comes after every rank's last checkpoint, so one rank
    // seeing this is enough, and every rank must take the same branch.
    const bool complete_here = journal_ && !std::filesystem::exists(partial) &&
                               journal_->progress().rows == share_.end && std::filesystem::exists(file_);
    if (ranks.any(complete_here)) {
        if (journal_) journal_->remove();
        done_ = true;
        return;
    }
    if (options.resume && !journal_ && !ranks.distributed()) {
        fmt::print(stderr, "npyflow: no journal for {}: starting from the beginning\n", file_.string());
    }

    // One rank's journal is enough to make the shared file precious: nobody recreates it.
    const bool resuming = ranks.any(journal_.has_value());
    const auto open = [&] {
        if (!std::filesystem::exists(partial)) {
            throw error(fmt::format("{}: is missing, so the job cannot resume; delete {} to start over",
                                    partial.string(), journal_ ? journal_path.string() : "the journals"));
        }
        const std::uint64_t done = journal_ ? journal_->progress().rows - origin_ : own.begin;
        writer_ = std::make_unique<npy_writer>(file_, type, shape, done, own);
    };
    if (resuming && (shared_file_ || journal_)) {
        ranks.agree(open);
    } else if (shared_file_) {
        ranks.agree([&] {  // rank 0 creates the file, then the others open it
            if (ranks.rank() == 0) writer_ = std::make_unique<npy_writer>(file_, type, shape, std::nullopt, own);
        });
        ranks.agree([&] {
            if (ranks.rank() != 0) open();
        });
    } else {
        ranks.agree([&] { writer_ = std::make_unique<npy_writer>(file_, type, shape, std::nullopt, own); });
    }
    if (!journal_) journal_.emplace(journal_path, fingerprint, total_rows, share_.begin);
    const auto interval =
        std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(options.checkpoint_seconds * 1000)));
    checkpoints_ = std::make_unique<checkpointer>(*journal_, [w = writer_.get()] { w->sync(); }, interval);
}

resumable_output::~resumable_output() {
    if (done_) return;
    try {
        (void)abandon();
    } catch (...) {  // a destructor must not throw; the journal still holds the last checkpoint
    }
}

void resumable_output::write(const batch& b, nlohmann::json sink_state) {
    writer_->write_rows(b.first_row - origin_, b.data);
    checkpoints_->advance({b.first_row + b.rows, std::move(sink_state)});
}

double resumable_output::commit(bool on_terminal) {
    if (on_terminal) fmt::print(stderr, "\rnpyflow: flushing {} to disk...", file_.string());
    const auto start = std::chrono::steady_clock::now();
    // The journal says "all rows" before the rename, so a run killed between the rename and
    // the journal's removal is known, on resume, to have finished.
    ranks_.agree([&] {
        checkpoints_->finish();
        writer_->finish();
    });
    // Every rank's rows are on disk: the output (or every shard) can take its real name.
    ranks_.agree([&] {
        if (!shared_file_ || ranks_.rank() == 0) writer_->commit();
    });
    done_ = true;
    journal_->remove();
    if (on_terminal) fmt::print(stderr, "\r\033[K");
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string resumable_output::abandon() {
    done_ = true;
    std::string failure;
    try {
        checkpoints_->finish();
    } catch (const std::exception& e) {
        failure = fmt::format(" (the last checkpoint failed: {})", e.what());
    }
    const std::uint64_t rows = journal_->progress().rows;
    if (shared_file_) writer_->keep_partial();  // other ranks' rows may be in it
    if (rows == share_.begin) {
        journal_->remove();
        return "no output written";  // a partial file of this rank's alone is removed by its writer
    }
    writer_->keep_partial();
    if (!ranks_.distributed()) {
        return fmt::format("{} of {} rows are kept in {}{}; run the same command with --resume to finish", rows,
                           journal_->total_rows(), writer_->partial_path().string(), failure);
    }
    return fmt::format("rows [{}, {}) of this rank's [{}, {}) are kept in {}{}; run the same command with --resume to "
                       "finish",
                       share_.begin, rows, share_.begin, share_.end, writer_->partial_path().string(), failure);
}

}  // namespace npyflow::cli
