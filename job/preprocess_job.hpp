#pragma once
// A resumable preprocessing job (what `npyflow preprocess` and `concat` run): .npy inputs
// through a list of preprocess ops into one .npy in input order, across the ranks of a group.
// Nothing is printed: the report says what was done.

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "npyflow/io/dtype.hpp"
#include "npyflow/job/rank_group.hpp"
#include "npyflow/job/resumable_output.hpp"
#include "npyflow/job/run_job.hpp"
#include "npyflow/pipeline/pipeline.hpp"

namespace npyflow {

struct preprocess_job {
    std::string command = "preprocess";  // recorded in the journal: a concat is not resumed as a preprocess
    std::vector<std::filesystem::path> inputs;  // one dataset: same dtype and row shape
    std::filesystem::path output;
    // A JSON file with a "preprocess" list of ops (a model spec works too); "": no ops (concat).
    std::filesystem::path spec;
    pipeline_options pipeline;     // threads 0: default_threads()
    std::uint64_t max_memory = 0;  // the memory guard's limit; 0: what is available
    std::filesystem::path trace;   // a Chrome trace-event file ("": none)
    output_options output_to;
    std::function<void(const std::string&)> warn;
};

struct preprocess_report {
    bool already_complete = false;
    job_report run;
    std::uint64_t rows = 0;
    std::uint64_t input_row_bytes = 0;
    sample_desc output_sample;
    std::vector<std::uint64_t> output_shape;
    std::filesystem::path written;
    std::string preprocess_text;
};

// The "preprocess" list of ops a JSON spec file holds (a model spec's too); an error naming
// the file when it holds none.
nlohmann::json read_preprocess_ops(const std::filesystem::path& spec);

// Every rank calls it at once; throws as run_score_job does.
preprocess_report run_preprocess_job(const preprocess_job& job, rank_group& ranks, const std::atomic<bool>& stop = {});

}  // namespace npyflow
