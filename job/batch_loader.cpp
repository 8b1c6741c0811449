#include "npyflow/job/batch_loader.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/io/row_range.hpp"
#include "npyflow/io/small_file.hpp"
#include "npyflow/job/memory_estimate.hpp"
#include "npyflow/job/preprocess_job.hpp"
#include "npyflow/job/rank_group.hpp"
#include "npyflow/job/run_job.hpp"
#include "npyflow/job/stages.hpp"
#include "npyflow/job/thread_budget.hpp"
#include "npyflow/ops/op_registry.hpp"
#include "npyflow/pipeline/batch_order.hpp"
#include "npyflow/pipeline/pipeline.hpp"

namespace npyflow {
namespace {

nlohmann::json preprocess_ops(const batch_loader_options& o) {
    if (o.spec.empty()) {
        if (!o.preprocess.is_array()) throw error("the preprocess ops must be a list of ops");
        return o.preprocess;
    }
    check_small_file(o.spec, "JSON spec");
    return read_preprocess_ops(o.spec);
}

// A pass: the pipeline on a thread of its own, its write stage handing copies of the batches
// to the consumer through a queue of at most `capacity`. A full queue holds the write stage,
// and so the pipeline, back.
class threaded_pass final : public batch_loader::pass {
public:
    threaded_pass(std::shared_ptr<const dataset> input, std::shared_ptr<const dataset> labels,
                  std::shared_ptr<const preprocess_plan> plan, pipeline_options options)
        : input_(std::move(input)),
          labels_(std::move(labels)),
          plan_(std::move(plan)),
          capacity_(batches_in_flight(options, options.end_row - options.first_row)),
          // Those waiting, those the pipeline fills, and a few the consumer holds.
          data_pool_(std::make_shared<buffer_pool>(2 * capacity_ + 2)),
          label_pool_(std::make_shared<buffer_pool>(2 * capacity_ + 2)) {
        options.should_stop = [this] { return cancelled_.load(); };
        thread_ = std::thread([this, options = std::move(options)] { run(options); });
    }

    ~threaded_pass() override {
        {
            const std::lock_guard lock(mutex_);
            cancelled_ = true;
        }
        space_.notify_all();
        thread_.join();
        data_pool_->close();
        label_pool_->close();
    }

    std::optional<loaded_batch> next() override {
        std::unique_lock lock(mutex_);
        filled_.wait(lock, [&] { return !queue_.empty() || finished_; });
        if (!queue_.empty()) {
            loaded_batch b = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            space_.notify_one();
            return b;
        }
        if (error_) std::rethrow_exception(error_);
        return std::nullopt;
    }

    bool ready(std::chrono::milliseconds timeout) override {
        std::unique_lock lock(mutex_);
        return filled_.wait_for(lock, timeout, [&] { return !queue_.empty() || finished_; });
    }

private:
    void run(const pipeline_options& options) {
        std::exception_ptr failure;
        try {
            const auto sink = [this](const batch& b) { deliver(b); };
            run_pipeline(*input_, {preprocess_stage(*plan_)}, sink, options);
        } catch (const pipeline_stopped&) {
            // Only the destructor stops a pass: nobody is left to tell.
        } catch (...) {
            failure = std::current_exception();
        }
        {
            const std::lock_guard lock(mutex_);
            error_ = failure;
            finished_ = true;
        }
        filled_.notify_all();
    }

    // The write stage: in the pass's order, one batch at a time.
    void deliver(const batch& b) {
        loaded_batch out;
        out.index = b.index;
        out.first_row = b.first_row;
        out.rows = b.rows;
        out.sample = b.sample;
        out.data = data_pool_->take(b.data.size());
        std::copy(b.data.begin(), b.data.end(), out.data.begin());
        out.data_pool = data_pool_;
        if (labels_) {
            const auto rows = labels_->read_rows(b.first_row, b.rows, label_scratch_);
            out.labels = label_pool_->take(rows.size());
            std::copy(rows.begin(), rows.end(), out.labels.begin());
            out.label_pool = label_pool_;
            // A labels file truncated under the pass reads as zeros past its end: an error
            // naming the file, as for the inputs, never labels made up.
            if (labels_->lost_pages()) labels_->check_not_truncated();
        }
        std::unique_lock lock(mutex_);
        space_.wait(lock, [&] { return queue_.size() < capacity_ || cancelled_; });
        if (cancelled_) return;
        queue_.push_back(std::move(out));
        lock.unlock();
        filled_.notify_one();
    }

    std::shared_ptr<const dataset> input_, labels_;
    std::shared_ptr<const preprocess_plan> plan_;
    const std::size_t capacity_;
    std::shared_ptr<buffer_pool> data_pool_, label_pool_;
    std::vector<std::byte> label_scratch_;  // the write stage's own: labels needing conversion
    std::mutex mutex_;
    std::condition_variable filled_, space_;
    std::deque<loaded_batch> queue_;
    bool finished_ = false;
    std::exception_ptr error_;
    std::atomic<bool> cancelled_{false};
    std::thread thread_;  // last: started once everything above exists
};

}  // namespace

batch_loader::batch_loader(const batch_loader_options& options) : options_(options) {
    if (options.inputs.empty()) throw error("a dataset needs at least one .npy file");
    if (options.batch_rows == 0) throw error("batch must be at least 1");
    if (options.ranks < 1 || options.rank < 0 || options.rank >= options.ranks) {
        throw error(fmt::format("rank {} of {}: the rank must be in [0, ranks)", options.rank, options.ranks));
    }
    const std::string where = options.spec.empty() ? "preprocess" : printable_path(options.spec);
    const nlohmann::json ops = preprocess_ops(options);
    input_ = std::make_shared<const dataset>(options.inputs);
    plan_ = std::make_shared<const preprocess_plan>(
        with_context(where, [&] { return preprocess_plan(parse_ops(ops), {input_->type(), input_->row_shape()}); }));

    const std::uint64_t end = std::min(options.stop, input_->rows());
    if (options.start > end) {
        throw error(fmt::format("start {} is past the {} rows ({})", options.start, end,
                                options.stop < input_->rows() ? "stop" : "the dataset's"));
    }
    const row_range share = share_of_rows(static_cast<std::uint64_t>(options.rank),
                                          static_cast<std::uint64_t>(options.ranks), end - options.start);
    first_ = options.start + share.begin;
    rows_ = share.rows();
    if (options.drop_last) rows_ -= rows_ % options.batch_rows;

    // What a pass holds: the batches in the pipeline and as many waiting for the consumer.
    {
        pipeline_options pipeline;
        pipeline.batch_rows = options.batch_rows;
        pipeline.threads = options.threads;
        pipeline.prefetch = options.prefetch;
        memory_estimate memory;
        add_batch_memory(memory, pipeline, *input_, *plan_);
        memory.add("batches waiting for the consumer", batches_in_flight(pipeline, rows_),
                   options.batch_rows * plan_->output().bytes());
        memory.check(0, 1, "lower batch or prefetch");
    }
    if (!options.labels.empty()) {
        labels_ = std::make_shared<const dataset>(std::vector{options.labels});
        if (labels_->rows() != input_->rows()) {
            throw error(fmt::format("labels {}: {} rows, but the dataset has {}", printable_path(options.labels),
                                    labels_->rows(), input_->rows()));
        }
    }
}

batch_loader::~batch_loader() = default;

std::uint64_t batch_loader::batches() const {
    return rows_ / options_.batch_rows + (rows_ % options_.batch_rows != 0);
}

std::optional<sample_desc> batch_loader::label_sample() const {
    if (!labels_) return std::nullopt;
    return sample_desc{labels_->type(), labels_->row_shape()};
}

std::string batch_loader::describe() const { return plan_->describe(); }

std::unique_ptr<batch_loader::pass> batch_loader::start(std::uint64_t epoch) const {
    pipeline_options pipeline;
    pipeline.batch_rows = options_.batch_rows;
    const one_process alone;
    pipeline.threads = options_.threads > 0 ? options_.threads : default_threads(alone);
    pipeline.prefetch = options_.prefetch;
    pipeline.first_row = first_;
    pipeline.end_row = first_ + rows_;
    // splitmix64 spreads any (seed, epoch) pair; the golden-ratio step keeps epochs apart.
    if (options_.shuffle) pipeline.batch_order = shuffled_batch_order(batches(), options_.seed + epoch * 0x9e3779b97f4a7c15ULL);
    return std::make_unique<threaded_pass>(input_, labels_, plan_, std::move(pipeline));
}

}  // namespace npyflow
