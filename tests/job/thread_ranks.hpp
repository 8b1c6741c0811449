#pragma once
// A rank group of threads in one process, for testing the job layer's collective steps
// without MPI: run_ranks(P, f) runs f(rank_group&) on P threads, one rank each.

#include <barrier>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "npyflow/job/rank_group.hpp"

namespace npyflow::testing {

struct rank_exchange {
    explicit rank_exchange(int ranks) : size(ranks), sync(ranks), values(static_cast<std::size_t>(ranks)),
                                       messages(static_cast<std::size_t>(ranks)) {}
    int size;
    std::barrier<> sync;
    std::vector<double> values;
    std::vector<std::optional<std::string>> messages;
    std::atomic<int> announced{0};
};

class thread_rank final : public rank_group {
public:
    thread_rank(rank_exchange& exchange, int rank) : x_(exchange), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return x_.size; }
    int local_size() const override { return x_.size; }
    void announce_failure() override {
        if (!announced_) x_.announced += 1;
        announced_ = true;
    }
    bool another_rank_failed() override { return x_.announced.load() > (announced_ ? 1 : 0); }
    void barrier() override { x_.sync.arrive_and_wait(); }
    std::vector<double> gather(double value) override {
        x_.values[static_cast<std::size_t>(rank_)] = value;
        x_.sync.arrive_and_wait();
        auto all = x_.values;
        x_.sync.arrive_and_wait();  // every rank has read before the next gather writes
        return all;
    }
    std::optional<std::string> first_failure(const std::optional<std::string>& mine) override {
        if (mine) announce_failure();
        x_.messages[static_cast<std::size_t>(rank_)] = mine;
        x_.sync.arrive_and_wait();
        std::optional<std::string> first;
        for (int r = 0; r < x_.size && !first; ++r) {
            if (const auto& m = x_.messages[static_cast<std::size_t>(r)]) first = fmt::format("rank {}: {}", r, *m);
        }
        x_.sync.arrive_and_wait();
        return first;
    }

private:
    rank_exchange& x_;
    int rank_;
    bool announced_ = false;
};

// Runs f on `size` ranks at once; returns each rank's exception message ("" if none).
template <typename F>
std::vector<std::string> run_ranks(int size, F f) {
    rank_exchange exchange(size);
    std::vector<std::string> errors(static_cast<std::size_t>(size));
    std::vector<std::thread> threads;
    for (int r = 0; r < size; ++r) {
        threads.emplace_back([&, r] {
            thread_rank ranks(exchange, r);
            try {
                f(static_cast<rank_group&>(ranks));
            } catch (const std::exception& e) {
                errors[static_cast<std::size_t>(r)] = e.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    return errors;
}

}  // namespace npyflow::testing
