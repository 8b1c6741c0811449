#include "cli/rank_group.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#ifdef NPYFLOW_HAVE_MPI
#include <mpi.h>
#endif

namespace npyflow::cli {
namespace {

// What the launcher tells a process it starts as one of several ranks.
int launched_ranks() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
        if (const char* value = std::getenv(name)) return std::atoi(value);
    }
    return std::getenv("PMIX_RANK") ? 2 : 1;  // some launchers give only the rank
}

}  // namespace

#ifdef NPYFLOW_HAVE_MPI

constexpr int tag_failure = 7001;

struct rank_group::requests {
    MPI_Request heard = MPI_REQUEST_NULL;  // a failure message from any rank
    int heard_buffer = 0;
    int sent_buffer = 1;
    std::vector<MPI_Request> sent;  // this rank's failure messages to the others
};

rank_group::rank_group() : requests_(std::make_unique<requests>()) {
    if (launched_ranks() <= 1) return;
    int provided = 0;
    // Serialized: MPI is called from one thread at a time (the pipeline's source polls it).
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (provided < MPI_THREAD_SERIALIZED) throw error("MPI does not provide MPI_THREAD_SERIALIZED");
    mpi_ = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
    MPI_Irecv(&requests_->heard_buffer, 1, MPI_INT, MPI_ANY_SOURCE, tag_failure, MPI_COMM_WORLD, &requests_->heard);
}

rank_group::~rank_group() {
    if (!mpi_) return;
    if (requests_->heard != MPI_REQUEST_NULL) {
        MPI_Cancel(&requests_->heard);
        MPI_Wait(&requests_->heard, MPI_STATUS_IGNORE);
    }
    MPI_Finalize();
}

void rank_group::announce_failure() {
    if (!mpi_ || announced_) return;
    announced_ = true;
    for (int r = 0; r < size_; ++r) {
        if (r == rank_) continue;
        requests_->sent.emplace_back();
        MPI_Isend(&requests_->sent_buffer, 1, MPI_INT, r, tag_failure, MPI_COMM_WORLD, &requests_->sent.back());
    }
}

bool rank_group::another_rank_failed() {
    if (!mpi_ || heard_) return heard_;
    int done = 0;
    MPI_Test(&requests_->heard, &done, MPI_STATUS_IGNORE);
    if (done) {
        heard_ = true;
        ++failures_heard_;
    }
    return heard_;
}

std::optional<std::string> rank_group::first_failure(const std::optional<std::string>& mine) {
    if (!mpi_) return mine;
    if (mine) announce_failure();
    int failed_here = announced_ ? 1 : 0, failed = 0;
    MPI_Allreduce(&failed_here, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    // Receive every failure message sent to this rank, so every send completes.
    const int expected = failed - failed_here;
    if (expected > 0 && !heard_) {
        MPI_Wait(&requests_->heard, MPI_STATUS_IGNORE);
        heard_ = true;
        ++failures_heard_;
    }
    for (; failures_heard_ < expected; ++failures_heard_) {
        int buffer = 0;
        MPI_Recv(&buffer, 1, MPI_INT, MPI_ANY_SOURCE, tag_failure, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    MPI_Waitall(static_cast<int>(requests_->sent.size()), requests_->sent.data(), MPI_STATUSES_IGNORE);
    requests_->sent.clear();
    if (failed == 0) return std::nullopt;

    const int candidate = mine ? rank_ : size_;
    int first = size_;
    MPI_Allreduce(&candidate, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    std::string message = first == rank_ ? *mine : std::string();
    auto length = static_cast<unsigned long long>(message.size());
    MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, first, MPI_COMM_WORLD);
    message.resize(length);
    MPI_Bcast(message.data(), static_cast<int>(length), MPI_CHAR, first, MPI_COMM_WORLD);
    return fmt::format("rank {}: {}", first, message);
}

void rank_group::barrier() {
    if (mpi_) MPI_Barrier(MPI_COMM_WORLD);
}

std::vector<double> rank_group::gather(double value) {
    std::vector<double> all(static_cast<std::size_t>(size_), value);
    if (mpi_) MPI_Allgather(&value, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
    return all;
}

#else  // built without MPI: one rank

struct rank_group::requests {};

rank_group::rank_group() {
    if (const int ranks = launched_ranks(); ranks > 1) {
        throw error(fmt::format("started by mpirun as one of {} ranks, but this npyflow was built without MPI, so "
                                "every rank would do the whole job; install libopenmpi-dev and rebuild, or run it "
                                "without mpirun",
                                ranks));
    }
}

rank_group::~rank_group() = default;
void rank_group::announce_failure() {}
bool rank_group::another_rank_failed() { return false; }
std::optional<std::string> rank_group::first_failure(const std::optional<std::string>& mine) { return mine; }
void rank_group::barrier() {}
std::vector<double> rank_group::gather(double value) { return {value}; }

#endif

bool rank_group::any(bool mine) {
    const auto all = gather(mine ? 1.0 : 0.0);
    return std::any_of(all.begin(), all.end(), [](double v) { return v > 0; });
}

rank_group& rank_group::world() {
    static rank_group group;
    return group;
}

row_range rank_group::share_of(int rank, std::uint64_t rows) const {
    // r * N / P without computing r * N, which can overflow: with N = q * P + m,
    // r * N / P = r * q + r * m / P, and r * m < P * P.
    const auto p = static_cast<std::uint64_t>(size_);
    const auto start = [&](std::uint64_t r) { return r * (rows / p) + r * (rows % p) / p; };
    return {start(static_cast<std::uint64_t>(rank)), start(static_cast<std::uint64_t>(rank) + 1)};
}

void rank_group::require_one_process(const std::string& command) const {
    if (distributed()) {
        throw error(fmt::format("npyflow {} runs in one process, not across {} MPI ranks; run it without mpirun",
                                command, size_));
    }
}

void rank_group::agree(const std::function<void()>& step) {
    if (!distributed()) return step();
    std::optional<std::string> mine;
    try {
        step();
    } catch (const std::exception& e) {
        mine = e.what();
    }
    if (auto first = first_failure(mine)) throw collective_error(*first);
}

}  // namespace npyflow::cli
