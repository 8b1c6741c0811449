#pragma once
// The processes of one job: this one alone, or the ranks mpirun started (Open MPI). Each rank
// takes an exact, contiguous share of the rows, [r*N/P, (r+1)*N/P), and runs the whole pipeline
// on it with its own threads. The ranks agree at a few points only: after setup, when one
// fails (the others stop at their next batch), and at the end. docs/distributed.md.
//
// Built without MPI there is always one rank; started by mpirun anyway, world() says so.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "npyflow/io/error.hpp"
#include "npyflow/io/row_range.hpp"

namespace npyflow::cli {

// An error every rank knows, being the first failing rank's: rank 0 reports it, the others
// exit quietly so it is printed once.
class collective_error : public error {
public:
    using error::error;
};

// Thrown on a rank that stopped because another rank failed: no failure of its own.
class stopped_by_another_rank : public error {
public:
    using error::error;
};

class rank_group {
public:
    // The job's ranks: MPI's world when started by mpirun (MPI is initialized on first use),
    // else this process. Throws when started by mpirun without MPI support built in.
    static rank_group& world();
    ~rank_group();
    rank_group(const rank_group&) = delete;
    rank_group& operator=(const rank_group&) = delete;

    int rank() const { return rank_; }
    int size() const { return size_; }
    bool distributed() const { return size_ > 1; }
    // Ranks on this machine, which share its cores (the default thread budget divides by it).
    int local_size() const { return local_size_; }

    row_range share(std::uint64_t rows) const { return share_of(rank_, rows); }
    row_range share_of(int rank, std::uint64_t rows) const;

    // Runs a step on every rank; if it threw anywhere, every rank throws the lowest failing
    // rank's error as a collective_error ("rank 2: ..." when distributed).
    void agree(const std::function<void()>& step);

    // The end of a job: every rank says whether it failed and why; all get the lowest failing
    // rank's message, or nothing when every rank succeeded.
    std::optional<std::string> first_failure(const std::optional<std::string>& mine);

    // Tells the other ranks that this one failed, so that they stop at their next batch.
    void announce_failure();
    // Whether another rank announced a failure. Cheap; call from one thread at a time.
    bool another_rank_failed();

    void barrier();
    // For commands that do not split their work: refuses to run under mpirun.
    void require_one_process(const std::string& command) const;
    // One value from every rank, in rank order (on every rank).
    std::vector<double> gather(double value);
    // Whether `mine` is true on any rank (on every rank).
    bool any(bool mine);

private:
    rank_group();
    int rank_ = 0, size_ = 1, local_size_ = 1;
    bool mpi_ = false;
    bool announced_ = false;
    bool heard_ = false;
    int failures_heard_ = 0;
    struct requests;
    std::unique_ptr<requests> requests_;
};

}  // namespace npyflow::cli
