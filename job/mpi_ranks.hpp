#pragma once
// The ranks of an MPI communicator as a job's rank group. The caller owns MPI: it has called
// MPI_Init_thread with at least MPI_THREAD_SERIALIZED (npyflow calls MPI from one thread at
// a time), and calls MPI_Finalize after this object is gone. The communicator is duplicated,
// so the job's messages never meet the program's own. Every rank of `comm` constructs one,
// as the ranks' collective steps need all of them.

#include <memory>

#include <mpi.h>

#include "npyflow/job/rank_group.hpp"

namespace npyflow {

class mpi_ranks final : public rank_group {
public:
    explicit mpi_ranks(MPI_Comm comm);
    ~mpi_ranks() override;
    mpi_ranks(const mpi_ranks&) = delete;
    mpi_ranks& operator=(const mpi_ranks&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    int local_size() const override { return local_size_; }
    std::optional<std::string> first_failure(const std::optional<std::string>& mine) override;
    void announce_failure() override;
    bool another_rank_failed() override;
    void barrier() override;
    std::vector<double> gather(double value) override;

private:
    MPI_Comm comm_ = MPI_COMM_NULL;
    int rank_ = 0, size_ = 1, local_size_ = 1;
    bool announced_ = false;
    bool heard_ = false;
    int failures_heard_ = 0;
    struct requests;
    std::unique_ptr<requests> requests_;
};

}  // namespace npyflow
