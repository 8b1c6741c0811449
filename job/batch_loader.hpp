#pragma once
// A data loader: a dataset's batches, preprocessed by the pipeline on a thread of its own
// while a consumer (a training loop, the Python module's Dataset) takes them one at a time,
// in input order or in a seeded shuffled order of batches, optionally with each row's label.
// At most `prefetch` batches are in the pipeline and as many wait ready for the consumer, so
// memory is bounded whatever the dataset's size.
//
//   npyflow::batch_loader loader({.inputs = {"images.npy"}, .spec = "spec.json", .shuffle = true});
//   auto pass = loader.start(epoch);
//   while (auto b = pass->next()) train_on(b->data, b->rows);

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "npyflow/job/buffer_pool.hpp"
#include "npyflow/ops/preprocess_plan.hpp"
#include "npyflow/ops/sample_desc.hpp"
#include "npyflow/pipeline/dataset.hpp"

namespace npyflow {

struct batch_loader_options {
    std::vector<std::filesystem::path> inputs;  // one dataset: same dtype and row shape
    // The preprocess ops: a JSON file with a "preprocess" list (a model spec works too), or
    // the list itself when spec is empty; neither: the rows as stored.
    std::filesystem::path spec;
    nlohmann::json preprocess = nlohmann::json::array();
    std::filesystem::path labels;  // a .npy with one label row per dataset row ("": none)
    std::uint64_t batch_rows = 1024;
    unsigned prefetch = 0;  // batches in the pipeline, and at most as many ready; 0: twice the threads
    unsigned threads = 0;   // the pipeline's; 0: default_threads()
    // The rows: [start, stop) of the dataset, of which this rank takes its share
    // [r*N/P, (r+1)*N/P), as a job's ranks do.
    std::uint64_t start = 0;
    std::uint64_t stop = UINT64_MAX;
    int rank = 0;
    int ranks = 1;
    bool shuffle = false;    // batches in a seeded order (rows within a batch stay in order)
    std::uint64_t seed = 0;  // with the pass's epoch: the same order for the same (seed, epoch)
    bool drop_last = false;  // leave out a last batch shorter than batch_rows
};

// One batch as the consumer receives it: its own copy, which the pipeline no longer touches.
struct loaded_batch {
    std::uint64_t index = 0;      // its place in the pass
    std::uint64_t first_row = 0;  // in the dataset
    std::uint64_t rows = 0;
    sample_desc sample;           // of each row, after the preprocess ops
    std::vector<std::byte> data;  // rows * sample.bytes(): C order, native byte order
    std::vector<std::byte> labels;  // rows * the labels' row bytes, when the loader has labels
    // Where data and labels may be given back once the consumer is done with them, for the
    // pass's later batches to reuse (optional: a buffer not given back is simply freed).
    std::shared_ptr<buffer_pool> data_pool, label_pool;
};

class batch_loader {
public:
    // Opens the inputs and labels and builds the preprocess plan: every problem with them is
    // an npyflow::error here, before any pass starts.
    explicit batch_loader(const batch_loader_options& options);
    ~batch_loader();

    std::uint64_t rows() const { return rows_; }  // this rank's rows, whole batches only with drop_last
    std::uint64_t batches() const;                // in each pass
    const sample_desc& sample() const { return plan_->output(); }
    // The labels' dtype and row shape; nullopt without labels.
    std::optional<sample_desc> label_sample() const;
    std::string describe() const;  // the preprocess plan

    // One pass over the rows; `epoch` varies a shuffled order (seed and epoch choose it).
    class pass {
    public:
        virtual ~pass() = default;  // stops the pipeline and waits for it
        // The next batch, waiting for it; nullopt after the last. Rethrows the pipeline's error
        // once the batches before it were taken.
        virtual std::optional<loaded_batch> next() = 0;
        // Whether next() would return at once, waiting at most `timeout` for it: a consumer
        // that must stay responsive (to Ctrl-C) waits in slices.
        virtual bool ready(std::chrono::milliseconds timeout) = 0;
    };
    std::unique_ptr<pass> start(std::uint64_t epoch = 0) const;

private:
    batch_loader_options options_;
    // Shared with the passes, which may outlive the loader.
    std::shared_ptr<const dataset> input_, labels_;
    std::shared_ptr<const preprocess_plan> plan_;
    std::uint64_t first_ = 0, rows_ = 0;  // this rank's rows in the dataset
};

}  // namespace npyflow
