// npyflow preprocess: streams .npy inputs through the spec's "preprocess" ops into one .npy.
// npyflow concat: the same with no ops, which joins .npy files (an MPI job's shards, say).
// The job is job/preprocess_job; this file parses its options and prints its report.

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "cli/job_options.hpp"
#include "cli/job_summary.hpp"
#include "cli/launched_ranks.hpp"
#include "npyflow/job/peak_memory.hpp"
#include "cli/stop_signal.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/job/preprocess_job.hpp"
#include "npyflow/ops/op_registry.hpp"

namespace npyflow::cli {
namespace {

struct preprocess_options {
    preprocess_job job;
    job_observers observers;
    bool quiet = false;
};

int run_preprocess(preprocess_options& o) {
    auto& ranks = launched_ranks();
    const auto& stop = install_stop_handler();
    o.job.trace = o.observers.trace;
    o.job.warn = print_warning;
    preprocess_report report;
    try {
        report = run_preprocess_job(o.job, ranks, stop);
    } catch (const job_stopped& e) {
        fmt::print(stderr, "npyflow: {}\n", e.what());
        return exit_interrupted;
    }
    const preprocess_job& job = o.job;
    if (report.already_complete) {
        if (ranks.rank() == 0) fmt::print(stderr, "npyflow: {} is already complete\n", printable_path(job.output));
        return 0;
    }
    print_observations(report.run, o.observers, ranks);
    const pipeline_report& run = report.run.pipeline;
    const auto out_type = name(report.output_sample.type);
    if (const auto whole_job = ranks_summary(ranks, run); !whole_job.empty()) {
        if (ranks.rank() == 0 && !o.quiet) {
            fmt::print(stderr, "npyflow: {} on {}; wrote {} ({} {})\n", job.command, whole_job,
                       job.output_to.shards ? printable_path(shard_path(job.output, 0, ranks.size())) + "..."
                                            : printable_path(job.output),
                       out_type, format_shape(report.output_shape));
        }
    } else if (!o.quiet) {
        const double mb_in = static_cast<double>(run.rows * report.input_row_bytes) / 1e6;
        const double mb_out = static_cast<double>(run.rows * report.output_sample.bytes()) / 1e6;
        const double s = std::max(run.seconds, 1e-9);
        fmt::print(stderr,
                   "npyflow: {}{} {} rows in {:.3f} s: {:.0f} rows/s, {:.1f} MB/s in, {:.1f} MB/s out; "
                   "wrote {} ({} {}), {:.3f} s more to flush it to disk; peak RSS {:.0f} MB [{}; {}, "
                   "batch {}, prefetch {}]\n",
                   resumed_text(run, report.rows), job.command == "concat" ? "joined" : "preprocessed", run.rows,
                   run.seconds, static_cast<double>(run.rows) / s, mb_in / s, mb_out / s,
                   printable_path(report.written), out_type, format_shape(report.output_shape), report.run.flush_seconds,
                   static_cast<double>(peak_resident_bytes()) / 1e6, report.preprocess_text, threads_text(run.threads),
                   job.pipeline.batch_rows, run.prefetch);
    }
    return 0;
}

// What preprocess and concat both take: inputs, the output and how it is written, the
// pipeline's options and observers.
CLI::App* add_streaming_command(CLI::App& app, command_runner& run, const std::shared_ptr<preprocess_options>& o,
                                const std::string& description) {
    auto* cmd = app.add_subcommand(o->job.command, description);
    cmd->add_option("INPUT", o->job.inputs, "Input .npy files; same dtype and row shape")->required();
    cmd->add_option("-o,--output", o->job.output, "Output .npy (C order, little endian); written as OUT.partial "
                                              "and renamed when complete")
        ->required();
    add_pipeline_options(cmd, o->job.pipeline, o->job.max_memory);
    add_observer_options(cmd, o->observers);
    add_output_options(cmd, o->job.output_to);
    cmd->add_flag("-q,--quiet", o->quiet, "No summary line");
    cmd->callback([&run, o] {
        o->job.pipeline.progress = ::isatty(STDERR_FILENO) != 0 && !o->quiet;
        run = [o] { return run_preprocess(*o); };
    });
    return cmd;
}

}  // namespace

void add_preprocess_command(CLI::App& app, command_runner& run) {
    auto o = std::make_shared<preprocess_options>();
    o->job.command = "preprocess";
    auto* cmd = add_streaming_command(app, run, o,
                                      "Stream .npy inputs (one dataset, concatenated along axis 0) through the spec's "
                                      "\"preprocess\" ops into one .npy, in input order");
    cmd->add_option("--spec", o->job.spec,
                    "JSON file with a \"preprocess\" list, e.g. [{\"op\":\"cast\",\"dtype\":\"float32\"}, "
                    "{\"op\":\"scale\",\"factor\":0.0039}]; a model spec works too. Ops: " +
                        fmt::format("{}", fmt::join(known_ops(), ", ")))
        ->required()
        ->check(CLI::ExistingFile);
}

void add_concat_command(CLI::App& app, command_runner& run) {
    auto o = std::make_shared<preprocess_options>();
    o->job.command = "concat";
    add_streaming_command(app, run, o,
                          "Join .npy files along axis 0 into one .npy, in the order given: the shards an MPI job "
                          "wrote with --output-shards, or any files of one dtype and row shape");
}

}  // namespace npyflow::cli
