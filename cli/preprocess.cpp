// npyflow preprocess: streams .npy inputs through the spec's "preprocess" ops into one .npy.
// npyflow concat: the same with no ops, which joins .npy files (an MPI job's shards, say).

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/job_fingerprint.hpp"
#include "cli/job_paths.hpp"
#include "cli/memory_budget.hpp"
#include "npyflow/io/json_file.hpp"
#include "npyflow/io/small_file.hpp"
#include "cli/peak_memory.hpp"
#include "cli/rank_group.hpp"
#include "cli/pipeline_job.hpp"
#include "cli/stop_signal.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/ops/op_registry.hpp"
#include "npyflow/ops/preprocess_plan.hpp"
#include "npyflow/pipeline/dataset.hpp"
#include "npyflow/pipeline/pipeline.hpp"

namespace npyflow::cli {
namespace {

struct preprocess_options {
    std::string command;  // "preprocess" or "concat"
    std::vector<std::filesystem::path> inputs;
    std::filesystem::path output;
    std::filesystem::path spec;  // none for concat
    pipeline_options pipeline;
    std::uint64_t max_memory = 0;  // 0: what is available
    job_observers observers;
    output_options output_as;
    bool quiet = false;
};

int run_preprocess(preprocess_options& o) {
    auto& ranks = rank_group::world();
    const auto& stop = install_stop_handler();
    job_paths paths;
    for (const auto& in : o.inputs) paths.reads("input", in);
    if (!o.spec.empty()) paths.reads("--spec", o.spec);
    check_job_paths(paths, o.output, o.output_as, o.observers, ranks);
    o.pipeline.threads = settle_threads(o.pipeline.threads, ranks);
    if (!o.spec.empty()) check_small_file(o.spec, "JSON spec");  // before describing it: a device, a pipe
    // Described before anything is read.
    job_fingerprint fingerprint(o.command);
    fingerprint.add_inputs(o.inputs);
    if (!o.spec.empty()) fingerprint.add_file("spec", o.spec);
    nlohmann::json ops = nlohmann::json::array();
    if (!o.spec.empty()) {
        const auto spec = read_json_file(o.spec);
        if (!spec.is_object() || !spec.contains("preprocess")) {
            throw error(fmt::format("{}: needs a \"preprocess\" list of ops", printable_path(o.spec)));
        }
        ops = spec["preprocess"];
    }
    const dataset input(o.inputs);
    const preprocess_plan plan = with_context(printable_path(o.spec), [&] {
        return preprocess_plan(parse_ops(ops), {input.type(), input.row_shape()});
    });

    std::vector<std::uint64_t> out_shape{input.rows()};
    out_shape.insert(out_shape.end(), plan.output().shape.begin(), plan.output().shape.end());
    with_context(printable_path(o.output), [&] { check_numpy_size(plan.output().type, out_shape); });
    throw_if_changed_while_read(fingerprint);

    memory_estimate memory;
    add_batch_memory(memory, o.pipeline, input, plan);
    ranks.agree([&] { memory.check(o.max_memory, ranks.local_size(), "lower --batch or --prefetch"); });

    resumable_output output(o.output, plan.output().type, out_shape, fingerprint, o.output_as, ranks);
    if (output.already_complete()) {
        if (ranks.rank() == 0) fmt::print(stderr, "npyflow: {} is already complete\n", printable_path(o.output));
        return 0;
    }

    const auto sink = [&](const batch& b) { output.write(b); };
    const auto done = run_job(input, {preprocess_stage(plan)}, sink, o.pipeline, stop, o.observers, output, ranks);
    if (!done) return exit_interrupted;
    const pipeline_report& report = *done;
    // The flush to disk is timed apart: the rows are written once the pipeline is done, and
    // how long the disk then takes is the disk's figure, not the pipeline's.
    const double flush_seconds = output.commit(o.pipeline.progress);
    if (o.observers.stats) fmt::print(stderr, "{}", format_flush_stats(flush_seconds, output));

    if (const auto whole_job = ranks_summary(ranks, report); !whole_job.empty()) {
        if (ranks.rank() == 0 && !o.quiet) {
            fmt::print(stderr, "npyflow: {} on {}; wrote {} ({} {})\n", o.command, whole_job,
                       o.output_as.shards ? printable_path(shard_path(o.output, 0, ranks.size())) + "..." : printable_path(o.output),
                       name(plan.output().type), format_shape(out_shape));
        }
    } else if (!o.quiet) {
        const double mb_in = static_cast<double>(report.rows * input.row_bytes()) / 1e6;
        const double mb_out = static_cast<double>(report.rows * plan.output().bytes()) / 1e6;
        const double s = std::max(report.seconds, 1e-9);
        fmt::print(stderr,
                   "npyflow: {}{} {} rows in {:.3f} s: {:.0f} rows/s, {:.1f} MB/s in, {:.1f} MB/s out; "
                   "wrote {} ({} {}), {:.3f} s more to flush it to disk; peak RSS {:.0f} MB [{}; {}, "
                   "batch {}, prefetch {}]\n",
                   resumed_text(report, input.rows()), o.command == "concat" ? "joined" : "preprocessed", report.rows,
                   report.seconds, static_cast<double>(report.rows) / s, mb_in / s, mb_out / s,
                   printable_path(output.file()), name(plan.output().type), format_shape(out_shape), flush_seconds,
                   static_cast<double>(peak_resident_bytes()) / 1e6, plan.describe(), threads_text(report.threads),
                   o.pipeline.batch_rows, report.prefetch);
    }
    return 0;
}

// What preprocess and concat both take: inputs, the output and how it is written, the
// pipeline's options and observers.
CLI::App* add_streaming_command(CLI::App& app, command_runner& run, const std::shared_ptr<preprocess_options>& o,
                                const std::string& description) {
    auto* cmd = app.add_subcommand(o->command, description);
    cmd->add_option("INPUT", o->inputs, "Input .npy files; same dtype and row shape")->required();
    cmd->add_option("-o,--output", o->output, "Output .npy (C order, little endian); written as OUT.partial "
                                              "and renamed when complete")
        ->required();
    add_pipeline_options(cmd, o->pipeline, o->max_memory);
    add_observer_options(cmd, o->observers);
    add_output_options(cmd, o->output_as);
    cmd->add_flag("-q,--quiet", o->quiet, "No summary line");
    cmd->callback([&run, o] {
        o->pipeline.progress = ::isatty(STDERR_FILENO) != 0 && !o->quiet;
        run = [o] { return run_preprocess(*o); };
    });
    return cmd;
}

}  // namespace

void add_preprocess_command(CLI::App& app, command_runner& run) {
    auto o = std::make_shared<preprocess_options>();
    o->command = "preprocess";
    auto* cmd = add_streaming_command(app, run, o,
                                      "Stream .npy inputs (one dataset, concatenated along axis 0) through the spec's "
                                      "\"preprocess\" ops into one .npy, in input order");
    cmd->add_option("--spec", o->spec,
                    "JSON file with a \"preprocess\" list, e.g. [{\"op\":\"cast\",\"dtype\":\"float32\"}, "
                    "{\"op\":\"scale\",\"factor\":0.0039}]; a model spec works too. Ops: " +
                        fmt::format("{}", fmt::join(known_ops(), ", ")))
        ->required()
        ->check(CLI::ExistingFile);
}

void add_concat_command(CLI::App& app, command_runner& run) {
    auto o = std::make_shared<preprocess_options>();
    o->command = "concat";
    add_streaming_command(app, run, o,
                          "Join .npy files along axis 0 into one .npy, in the order given: the shards an MPI job "
                          "wrote with --output-shards, or any files of one dtype and row shape");
}

}  // namespace npyflow::cli
