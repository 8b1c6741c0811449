#pragma once
// The processes of one job: this one alone (one_process), the ranks of an MPI communicator
// (mpi_ranks, job/mpi_ranks.hpp), or any other group a program supplies (the tests run ranks
// as threads). Each rank takes an exact, contiguous share of the rows, [r*N/P, (r+1)*N/P),
// and runs the whole pipeline on it with its own threads. The ranks agree at a few points
// only: after setup, when one fails (the others stop at their next batch), and at the end.
// docs/distributed.md.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "npyflow/io/error.hpp"
#include "npyflow/io/row_range.hpp"

namespace npyflow {

// An error every rank knows, being the first failing rank's: rank 0 reports it, the others
// stay quiet so it is printed once.
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
    virtual ~rank_group() = default;

    virtual int rank() const = 0;
    virtual int size() const = 0;
    // Ranks on this machine, which share its cores (the default thread budget divides by it).
    virtual int local_size() const = 0;
    bool distributed() const { return size() > 1; }

    row_range share(std::uint64_t rows) const { return share_of(rank(), rows); }
    row_range share_of(int rank, std::uint64_t rows) const;

    // Runs a step on every rank; if it threw anywhere, every rank throws the lowest failing
    // rank's error as a collective_error ("rank 2: ..." when distributed).
    void agree(const std::function<void()>& step);

    // The end of a job, on every rank: each says whether it failed and why; all get the
    // lowest failing rank's message ("rank 2: ..."), or nothing when every rank succeeded.
    virtual std::optional<std::string> first_failure(const std::optional<std::string>& mine) = 0;

    // Tells the other ranks that this one failed, so that they stop at their next batch.
    virtual void announce_failure() = 0;
    // Whether another rank announced a failure. Cheap; call from one thread at a time.
    virtual bool another_rank_failed() = 0;

    virtual void barrier() = 0;
    // One value from every rank, in rank order (on every rank).
    virtual std::vector<double> gather(double value) = 0;
    // Whether `mine` is true on any rank (on every rank).
    bool any(bool mine);

    // For work that does not split: refuses to run on more than one rank.
    void require_one_process(const std::string& what) const;
};

// A job of one process.
class one_process final : public rank_group {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    int local_size() const override { return 1; }
    std::optional<std::string> first_failure(const std::optional<std::string>& mine) override { return mine; }
    void announce_failure() override {}
    bool another_rank_failed() override { return false; }
    void barrier() override {}
    std::vector<double> gather(double value) override { return {value}; }
};

}  // namespace npyflow
