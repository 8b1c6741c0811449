#include "npyflow/job/mpi_ranks.hpp"

#include <vector>

#include <fmt/format.h>

namespace npyflow {

namespace {
constexpr int tag_failure = 7001;
}

struct mpi_ranks::requests {
    MPI_Request heard = MPI_REQUEST_NULL;  // a failure message from any rank
    int heard_buffer = 0;
    int sent_buffer = 1;
    std::vector<MPI_Request> sent;  // this rank's failure messages to the others
};

mpi_ranks::mpi_ranks(MPI_Comm comm) : requests_(std::make_unique<requests>()) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized) throw error("mpi_ranks: MPI is not initialized (call MPI_Init_thread first)");
    int provided = 0;
    MPI_Query_thread(&provided);
    if (provided < MPI_THREAD_SERIALIZED) {
        throw error("mpi_ranks: MPI was initialized below MPI_THREAD_SERIALIZED; npyflow calls MPI from the "
                    "pipeline's threads, one at a time");
    }
    MPI_Comm_dup(comm, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
    MPI_Irecv(&requests_->heard_buffer, 1, MPI_INT, MPI_ANY_SOURCE, tag_failure, comm_, &requests_->heard);
}

mpi_ranks::~mpi_ranks() {
    if (requests_->heard != MPI_REQUEST_NULL) {
        MPI_Cancel(&requests_->heard);
        MPI_Wait(&requests_->heard, MPI_STATUS_IGNORE);
    }
    MPI_Comm_free(&comm_);
}

void mpi_ranks::announce_failure() {
    if (announced_) return;
    announced_ = true;
    for (int r = 0; r < size_; ++r) {
        if (r == rank_) continue;
        requests_->sent.emplace_back();
        MPI_Isend(&requests_->sent_buffer, 1, MPI_INT, r, tag_failure, comm_, &requests_->sent.back());
    }
}

bool mpi_ranks::another_rank_failed() {
    if (heard_) return true;
    int done = 0;
    MPI_Test(&requests_->heard, &done, MPI_STATUS_IGNORE);
    if (done) {
        heard_ = true;
        ++failures_heard_;
    }
    return heard_;
}

std::optional<std::string> mpi_ranks::first_failure(const std::optional<std::string>& mine) {
    if (mine) announce_failure();
    int failed_here = announced_ ? 1 : 0, failed = 0;
    MPI_Allreduce(&failed_here, &failed, 1, MPI_INT, MPI_SUM, comm_);
    // Receive every failure message sent to this rank, so every send completes.
    const int expected = failed - failed_here;
    if (expected > 0 && !heard_) {
        MPI_Wait(&requests_->heard, MPI_STATUS_IGNORE);
        heard_ = true;
        ++failures_heard_;
    }
    for (; failures_heard_ < expected; ++failures_heard_) {
        int buffer = 0;
        MPI_Recv(&buffer, 1, MPI_INT, MPI_ANY_SOURCE, tag_failure, comm_, MPI_STATUS_IGNORE);
    }
    MPI_Waitall(static_cast<int>(requests_->sent.size()), requests_->sent.data(), MPI_STATUSES_IGNORE);
    requests_->sent.clear();
    if (failed == 0) return std::nullopt;

    const int candidate = mine ? rank_ : size_;
    int first = size_;
    MPI_Allreduce(&candidate, &first, 1, MPI_INT, MPI_MIN, comm_);
    std::string message = first == rank_ ? *mine : std::string();
    auto length = static_cast<unsigned long long>(message.size());
    MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, first, comm_);
    message.resize(length);
    MPI_Bcast(message.data(), static_cast<int>(length), MPI_CHAR, first, comm_);
    return fmt::format("rank {}: {}", first, message);
}

void mpi_ranks::barrier() { MPI_Barrier(comm_); }

std::vector<double> mpi_ranks::gather(double value) {
    std::vector<double> all(static_cast<std::size_t>(size_), value);
    MPI_Allgather(&value, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, comm_);
    return all;
}

}  // namespace npyflow
