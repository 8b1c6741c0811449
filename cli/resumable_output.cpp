#include "cli/resumable_output.hpp"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "io/error.hpp"

namespace npyflow::cli {

void add_resume_options(CLI::App* command, resume_options& options) {
    command->add_flag("--resume", options.resume,
                      "Finish the job an earlier run of the same command left unfinished (killed, failed or "
                      "interrupted), from its OUT.journal; refused if the inputs, model, weights or options changed. "
                      "Without a journal, starts from the beginning");
    command->add_option("--checkpoint-every", options.checkpoint_seconds,
                        "Seconds between checkpoints: the output written so far is flushed to disk and recorded "
                        "in OUT.journal, off the pipeline's threads")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
}

resumable_output::resumable_output(const std::filesystem::path& path, dtype type, std::vector<std::uint64_t> shape,
                                   const nlohmann::json& fingerprint, const resume_options& options)
    : path_(path) {
    const std::uint64_t total_rows = shape.empty() ? 1 : shape[0];
    auto partial = path;
    partial += ".partial";
    journal_ = job_journal::read(path);
    if (journal_ && !options.resume) {
        throw error(fmt::format("{}: an earlier run of a job writing this output stopped after {} of {} rows, kept in "
                                "{} (journal {}); run the same command with --resume to finish it, or delete both "
                                "files to start over",
                                path.string(), journal_->progress().rows, journal_->total_rows(), partial.string(),
                                journal_->path().string()));
    }
    if (journal_) {
        const auto changes = fingerprint_differences(journal_->fingerprint(), fingerprint);
        if (!changes.empty()) {
            throw error(fmt::format("{}: cannot resume: the job is not the one journaled; delete it and {} to start "
                                    "over. What changed:\n{}",
                                    journal_->path().string(), partial.string(), fmt::join(changes, "\n")));
        }
        if (!std::filesystem::exists(partial)) {
            if (journal_->progress().rows == total_rows && std::filesystem::exists(path)) {
                journal_->remove();  // the run was killed between renaming the output and removing this
                done_ = true;
                return;
            }
            throw error(fmt::format("{}: is missing, so the job cannot resume; delete {} to start over",
                                    partial.string(), journal_->path().string()));
        }
        writer_ = std::make_unique<npy_writer>(path, type, std::move(shape), journal_->progress().rows);
    } else {
        if (options.resume) fmt::print(stderr, "npyflow: no journal for {}: starting from the beginning\n", path.string());
        journal_.emplace(path, fingerprint, total_rows);
        writer_ = std::make_unique<npy_writer>(path, type, std::move(shape));
    }
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
    writer_->write_rows(b.first_row, b.data);
    checkpoints_->advance({b.first_row + b.rows, std::move(sink_state)});
}

double resumable_output::commit(bool on_terminal) {
    if (on_terminal) fmt::print(stderr, "\rnpyflow: flushing {} to disk...", path_.string());
    const auto start = std::chrono::steady_clock::now();
    // The journal says "all rows" before the rename, so a run killed between the rename and
    // the journal's removal is known, on resume, to have finished.
    checkpoints_->finish();
    writer_->commit();
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
    if (rows == 0) {
        journal_->remove();
        return "no output written";  // the writer removes the partial file
    }
    writer_->keep_partial();
    return fmt::format("{} of {} rows are kept in {}{}; run the same command with --resume to finish", rows,
                       journal_->total_rows(), writer_->partial_path().string(), failure);
}

}  // namespace npyflow::cli
