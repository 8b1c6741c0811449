#pragma once
// A model ready to run: a spec (docs/model-spec.md) with its weights bound (any form
// --weights takes, docs/weights.md), and predict() on samples held in memory, through the
// spec's preprocess ops and the network. What `npyflow score` streams from files, for a
// program that has its samples already.
//
//   npyflow::model m("spec.json", "weights.pth");
//   std::vector<float> logits = m.predict(std::span<const float>(x), {1, 28, 28});

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "npyflow/io/dtype.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/job/output_head.hpp"
#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/network.hpp"
#include "npyflow/nn/weight_source.hpp"
#include "npyflow/ops/preprocess_plan.hpp"

namespace npyflow {

// How model::predict_into runs: the output head, and the batches it splits the rows into,
// run `threads` at a time, each on one thread (as the CLI's per-thread streams: the same bits
// for any batch size and thread count).
struct predict_options {
    output_kind output = output_kind::logits;
    std::uint64_t batch_rows = 1024;  // rows preprocessed and run at once by one thread
    unsigned threads = 1;
    // Checked between batches: when set, predict_into throws job_stopped.
    const std::atomic<bool>* stop = nullptr;
};

struct model_options {
    std::string weights_key;  // which dict of a checkpoint holds the weights ("": found by itself)
    bool strict = false;      // arrays no layer uses are an error, not a warning
    // oneDNN's OpenMP threads for each predict(): 1 runs on the calling thread alone (call
    // predict from several threads at once to use more cores); more for one call at a time.
    int threads = 1;
};

// Reads an npyflow spec, refusing with a pointed message a file that is something else (a
// checkpoint, a Keras config). `weights` supplies the layout its format implies.
model_spec read_model_spec(const std::filesystem::path& path, const weight_source& weights);

// The spec's preprocess ops for samples of `input`, checked to give what the network takes;
// where not, the error's hint is a fix that works. rows: how many samples the data holds
// (for the hint for a 1-D file of one sample); `where` names the spec in messages.
preprocess_plan network_input_plan(const model_spec& spec, const sample_desc& input, std::uint64_t rows,
                                   const std::string& where);

class model {
public:
    model(const std::filesystem::path& spec, const std::filesystem::path& weights, const model_options& options = {});

    const model_spec& spec() const { return spec_; }
    const network& net() const { return *net_; }
    // Arrays the weights hold that no layer uses (without strict).
    const std::vector<std::string>& warnings() const { return warnings_; }
    // One sample's outputs: (classes), (T, classes), ...
    const std::vector<std::uint64_t>& output_shape() const { return net_->output_shape(); }

    // The network's outputs for `data`'s samples, each of `sample` (dtype and shape), C order,
    // native byte order: rows × output_shape() floats. The spec's preprocess ops apply first.
    std::vector<float> predict(std::span<const std::byte> data, const sample_desc& sample) const;
    // float32 samples.
    std::vector<float> predict(std::span<const float> data, const std::vector<std::uint64_t>& sample_shape) const;
    // Every row of an array (an .npy opened or parsed: io/npy_array.hpp).
    std::vector<float> predict(const npy_array& rows) const;

    // `data`'s samples through the spec's preprocess ops, the network and the output head,
    // into dst: output_file_shape(rows, output_shape(), options.output) values of
    // output_dtype(options.output) (float32, or int64 classes). Memory beyond dst is a few
    // batches' worth, whatever the rows.
    void predict_into(std::span<const std::byte> data, const sample_desc& sample, std::span<std::byte> dst,
                      const predict_options& options) const;

    // The layers, their shapes and arrays, and the totals (score --dry-run's table).
    const std::string& summary() const { return summary_; }

    // The predicted class of each output vector (the first largest, as numpy's argmax; -1
    // where an output is NaN): outputs from predict().
    std::vector<std::int64_t> classes(std::span<const float> outputs) const;

private:
    model_spec spec_;
    std::unique_ptr<network> net_;
    std::vector<std::string> warnings_;
    std::string where_;
    std::string summary_;
};

}  // namespace npyflow
