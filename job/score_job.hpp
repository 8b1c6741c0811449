#pragma once
// A resumable scoring job (what `npyflow score` runs): .npy inputs through a model spec's
// preprocess ops and network, with its weights, into one .npy of logits, probabilities or
// classes in input order, across the ranks of a group; optionally the accuracy against
// labels. Nothing is printed: the report says what was done.
//
//   npyflow::score_job job;
//   job.inputs = {"images.npy"};  job.output = "scores.npy";
//   job.model = "spec.json";      job.weights = "weights.npz";
//   npyflow::one_process alone;
//   const auto report = npyflow::run_score_job(job, alone);

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "npyflow/job/inference_choice.hpp"
#include "npyflow/job/output_head.hpp"
#include "npyflow/job/rank_group.hpp"
#include "npyflow/job/resumable_output.hpp"
#include "npyflow/job/run_job.hpp"
#include "npyflow/pipeline/pipeline.hpp"

namespace npyflow {

struct score_job {
    std::vector<std::filesystem::path> inputs;  // one dataset: same dtype and row shape
    std::filesystem::path output;
    std::filesystem::path model, weights;
    std::string weights_key;        // which dict of a checkpoint ("": found by itself)
    std::filesystem::path labels;   // integer class labels, one a row ("": none)
    std::filesystem::path reference;  // a .npy the output is compared with later: read, so checked like an input
    output_kind kind = output_kind::logits;
    inference_mode inference = inference_mode::auto_;
    bool strict = false;            // arrays no layer uses are an error
    pipeline_options pipeline;      // threads 0: default_threads()
    std::uint64_t max_memory = 0;   // the memory guard's limit; 0: what is available
    std::filesystem::path trace;    // a Chrome trace-event file ("": none)
    output_options output_to;       // resume, checkpoints, shards
    // Warnings (unused arrays, --threads lowered) as they arise; none when empty.
    std::function<void(const std::string&)> warn;
};

struct score_report {
    bool already_complete = false;  // a run killed after its rename had finished it: nothing was run
    job_report run;
    std::uint64_t rows = 0;  // the dataset's
    std::vector<std::uint64_t> output_shape;
    std::filesystem::path written;  // this rank's file: the output, or its shard
    std::optional<std::uint64_t> correct;  // with labels: over every rank and every run of the job
    std::uint64_t non_finite = 0;  // rows whose network input held NaN or Inf (outputs NaN), every rank
    std::optional<std::uint64_t> first_non_finite;  // this rank's first such row, in this run
    std::uint64_t rows_before = 0;  // this rank's rows done by the runs it resumes
    std::string inference;  // "streams (auto: ...)"
    std::string preprocess_text, network_text;  // plan and network, described
    double flops_per_sample = 0;
};

// Every rank of `ranks` calls it at once. Throws npyflow::error with what is wrong (the
// partial output kept for resume once rows were written); job_stopped when `stop` was set.
score_report run_score_job(const score_job& job, rank_group& ranks, const std::atomic<bool>& stop = {});

}  // namespace npyflow
