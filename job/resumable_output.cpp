#include "npyflow/job/resumable_output.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <string_view>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/npy_header.hpp"

namespace npyflow {
namespace {

// The rank count of a journal of `output` named `name` ("OUT.journal": 1;
// "OUT.rank2-of-3.journal": 3), or 0 when the name is not one of its journals.
int journal_ranks(const std::string& output, const std::string& name) {
    if (name == output + ".journal") return 1;
    const std::string prefix = output + ".rank", suffix = ".journal";
    if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return 0;
    }
    // "<rank>-of-<ranks>", both decimal numbers that fit an int.
    const std::string_view middle(name.data() + prefix.size(), name.size() - prefix.size() - suffix.size());
    const auto of = middle.find("-of-");
    int rank = -1, ranks = 0;
    const auto parse = [](std::string_view text, int& value) {
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
    };
    if (of == std::string_view::npos || !parse(middle.substr(0, of), rank) || !parse(middle.substr(of + 4), ranks) ||
        rank < 0 || ranks < 2) {
        return 0;
    }
    return ranks;
}

// Journals of this output that a run on another number of ranks left: their rows are split
// differently, so this run can neither resume them nor start over without losing their work.
void refuse_journals_of_other_rank_counts(const std::filesystem::path& output, int ranks) {
    std::map<int, std::vector<std::string>> found;
    std::error_code ec;
    const auto dir = output.has_parent_path() ? output.parent_path() : std::filesystem::path(".");
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const int n = journal_ranks(output.filename().string(), entry.path().filename().string());
        if (n > 0 && n != ranks) found[n].push_back(printable_path(output.parent_path() / entry.path().filename()));
    }
    if (found.empty()) return;
    const int count = found.begin()->first;
    auto names = found.begin()->second;
    std::sort(names.begin(), names.end());
    throw error(fmt::format("{}: an earlier run of a job writing this output on {} left journals ({}); finish it "
                            "with the same command {} and --resume, or delete them and {} to start over",
                            printable_path(output), count == 1 ? "one process" : fmt::format("{} ranks", count),
                            fmt::join(names, ", "),
                            count == 1 ? "without mpirun" : fmt::format("under mpirun -np {}", count),
                            printable_path(partial_file::partial_path_for(output))));
}

}  // namespace

std::filesystem::path shard_path(const std::filesystem::path& output, int rank, int ranks) {
    auto name = output.stem();
    name += fmt::format("-{:05}-of-{:05}", rank, ranks);
    name += output.extension();
    return output.parent_path() / name;
}

void resumable_output::list_files(job_paths& paths, const std::filesystem::path& path, const output_options& options,
                                  const rank_group& ranks) {
    const bool shared = ranks.distributed() && !options.shards;
    for (int r = 0; r < (options.shards ? ranks.size() : 1); ++r) {
        const auto file = options.shards ? shard_path(path, r, ranks.size()) : path;
        paths.writes(options.shards ? "output shard" : "output", file);
        paths.writes("partial output", partial_file::partial_path_for(file), true);
        paths.writes("output lock", output_lock::path_for(file), true);
        for (int j = 0; j < (shared ? ranks.size() : 1); ++j) {
            const auto journal = job_journal::path_for(file, j, shared ? ranks.size() : 1);
            paths.writes("journal", journal, true);
            paths.writes("journal", partial_file::partial_path_for(journal), true);
        }
    }
}

resumable_output::resumable_output(const std::filesystem::path& path, dtype type, std::vector<std::uint64_t> shape,
                                   const job_fingerprint& job, const output_options& options, rank_group& ranks)
    : ranks_(ranks), fingerprint_(job) {
    with_context(printable_path(path), [&] { check_numpy_size(type, shape); });
    nlohmann::json fingerprint = job.entries();
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

    // One writer per file: the rank that creates it locks it, before anything else is read
    // or written, so two jobs never both decide what to do with its journal.
    ranks.agree([&] {
        if (!shared_file_ || ranks.rank() == 0) lock_.emplace(file_);
    });
    ranks.agree([&] {
        if (!options.shards) refuse_journals_of_other_rank_counts(file_, ranks.size());
        journal_ = job_journal::read(journal_path, partial);
        if (journal_ && !options.resume) {
            throw error(fmt::format("{}: an earlier run of a job writing this output stopped after {} of {} rows, kept "
                                    "in {} (journal {}); run the same command with --resume to finish it, or delete "
                                    "both files to start over",
                                    printable_path(file_), journal_->progress().rows, journal_->total_rows(), printable_path(partial),
                                    printable_path(journal_path)));
        }
        if (!journal_) return;
        const auto changes = fingerprint_differences(journal_->fingerprint(), fingerprint);
        if (!changes.empty()) {
            throw error(fmt::format("{}: cannot resume: the job is not the one journaled; delete it and {} to start "
                                    "over. What changed:\n{}",
                                    printable_path(journal_path), printable_path(partial), fmt::join(changes, "\n")));
        }
    });
    // A run killed between renaming the output into place and removing its journals: the
    // output is complete. One file is renamed once, after every rank's last checkpoint, so
    // one rank seeing this is enough. Shards are renamed one by rank: only when every shard
    // is, is the output complete; a rank whose shard is renamed then only joins the others'
    // steps while they finish theirs. Every rank must take the same branch.
    const bool complete_here = journal_ && !std::filesystem::exists(partial) &&
                               journal_->progress().rows == share_.end && std::filesystem::exists(file_);
    if (options.shards ? !ranks.any(!complete_here) : ranks.any(complete_here)) {
        if (journal_) journal_->remove();
        complete_ = done_ = true;
        return;
    }
    shard_renamed_ = options.shards && complete_here;
    if (options.resume && !journal_ && !ranks.distributed()) {
        fmt::print(stderr, "npyflow: no journal for {}: starting from the beginning\n", printable_path(file_));
    }

    // One rank's journal is enough to make the shared file precious: nobody recreates it.
    const bool resuming = ranks.any(journal_.has_value());
    const auto open = [&] {
        if (shard_renamed_) return;
        if (!std::filesystem::exists(partial)) {
            throw error(fmt::format("{}: is missing, so the job cannot resume; delete {} to start over",
                                    printable_path(partial), journal_ ? printable_path(journal_path) : "the journals"));
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
    if (shard_renamed_) return;
    const std::uint64_t first = journal_->progress().rows - origin_;
    writeback_ = std::make_unique<background_writeback>(
        writer_->file(), first == 0 ? 0 : writer_->data_offset() + first * writer_->row_bytes());
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
    writeback_->advance(writer_->data_offset() + (b.first_row + b.rows - origin_) * writer_->row_bytes());
}

double resumable_output::commit(bool on_terminal) {
    if (on_terminal) fmt::print(stderr, "\rnpyflow: flushing {} to disk...", printable_path(file_));
    const auto start = std::chrono::steady_clock::now();
    stop_writeback();
    // The journal says "all rows" before the rename, so a run killed between the rename and
    // the journal's removal is known, on resume, to have finished.
    ranks_.agree([&] {
        if (shard_renamed_) return;
        checkpoints_->finish();
        writer_->finish();
    });
    // Rows read from a file that was rewritten in place mix its old and new contents: such
    // an output is wrong and cannot be resumed, so it is not kept.
    std::vector<std::string> changes;
    ranks_.agree([&] { changes = fingerprint_.changes_while_running(); });
    if (ranks_.any(!changes.empty())) {
        done_ = true;
        journal_->remove();
        // The rows are lost either way: the rank that owns the file removes it, resumed or not.
        if (writer_ && (!shared_file_ || ranks_.rank() == 0)) writer_->discard();
        writer_.reset();
        if (changes.empty()) throw stopped_by_another_rank("an input changed on another rank");
        throw error(fmt::format("an input changed while the job ran, so its rows mix the old and new contents; the "
                                "output is not committed and its partial file is removed. Run the job again. What "
                                "changed:\n{}",
                                fmt::join(changes, "\n")));
    }
    // Every rank's rows are on disk: the output (or every shard) can take its real name.
    ranks_.agree([&] {
        if (writer_ && (!shared_file_ || ranks_.rank() == 0)) writer_->commit();
    });
    done_ = true;
    journal_->remove();
    // The lock goes only once every rank's journal is gone: a job started in between would
    // find a journal and be refused for nothing.
    ranks_.barrier();
    lock_.reset();
    if (on_terminal) fmt::print(stderr, "\r\033[K");
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void resumable_output::stop_writeback() {
    if (!writeback_) return;
    early_windows_ = writeback_->windows();
    writeback_wait_ = writeback_->wait_seconds();
    writeback_.reset();  // before the file it writes is flushed and closed
}

std::string resumable_output::abandon() {
    done_ = true;
    stop_writeback();
    if (!writer_) return "no output written";  // this rank's shard was complete already
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
                           journal_->total_rows(), printable_path(writer_->partial_path()), failure);
    }
    return fmt::format("rows [{}, {}) of this rank's [{}, {}) are kept in {}{}; run the same command with --resume to "
                       "finish",
                       share_.begin, rows, share_.begin, share_.end, printable_path(writer_->partial_path()), failure);
}

}  // namespace npyflow
