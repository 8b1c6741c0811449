#pragma once
// The options every streaming command (preprocess, concat, score) takes, registered on its
// CLI11 command: the pipeline's, the observers', the output's and the memory guard's.

#include <cstdint>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "npyflow/job/resumable_output.hpp"
#include "npyflow/pipeline/pipeline.hpp"

namespace npyflow::cli {

// --batch, --threads, --prefetch and --max-memory.
void add_pipeline_options(CLI::App* command, pipeline_options& options, std::uint64_t& max_memory);

// --stats and --trace.
struct job_observers {
    bool stats = false;
    std::filesystem::path trace;
};
void add_observer_options(CLI::App* command, job_observers& observers);

// --resume, --checkpoint-every, --output-shards.
void add_output_options(CLI::App* command, output_options& options);

}  // namespace npyflow::cli
