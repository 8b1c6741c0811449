// npyflow score: streams .npy inputs through a model spec's preprocess ops and network, with
// weights in any form docs/weights.md lists, into one .npy of logits, probabilities or class
// indices (the job is job/score_job; this file parses its options and prints its report).

#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/job_options.hpp"
#include "cli/job_summary.hpp"
#include "cli/launched_ranks.hpp"
#include "npyflow/job/peak_memory.hpp"
#include "cli/stop_signal.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/small_file.hpp"
#include "npyflow/job/model.hpp"
#include "npyflow/job/reference_check.hpp"
#include "npyflow/job/score_job.hpp"
#include "npyflow/nn/model_summary.hpp"
#include "npyflow/nn/network.hpp"
#include "npyflow/nn/param_binding.hpp"
#include "npyflow/nn/weight_source.hpp"
#include "npyflow/pipeline/dataset.hpp"

namespace npyflow::cli {
namespace {

struct score_options {
    score_job job;
    double atol = 1e-4;
    bool dry_run = false;
    bool quiet = false;
    // --output-kind and --inference as typed: checked against their names, mapped once parsed
    // (CLI11 would otherwise show and accept the enums' numbers).
    std::string output_name = "logits", inference_name = "auto";
    job_observers observers;
};

// --dry-run: binds the weights and prints the model's summary; nothing runs, nothing is
// written. With inputs, their samples are checked against the network's input too.
int run_dry_run(const score_job& o) {
    check_small_file(o.model, "JSON spec");
    const weight_source weights(o.weights, o.weights_key);
    const model_spec spec = read_model_spec(o.model, weights);
    if (!o.inputs.empty()) {
        const dataset input(o.inputs);
        (void)network_input_plan(spec, {input.type(), input.row_shape()}, input.rows(), printable_path(o.model));
    }
    bound_model bound = bind_parameters(spec, weights, o.strict);
    for (const auto& w : bound.warnings) print_warning(w);
    const model_summary summary(bound);  // before the network takes the bound arrays
    const network net(std::move(bound), 1);
    fmt::print("{}", summary.text(net));
    fmt::print(stderr, "npyflow: dry run: {} binds to {} ({}){}; nothing was run\n", printable_path(o.model),
               weights.where(), weights.format_name(), o.inputs.empty() ? "" : ", and the inputs fit its input");
    return 0;
}

int run_score(score_options& o) {
    if (o.dry_run) return run_dry_run(o.job);
    auto& ranks = launched_ranks();
    const auto& stop = install_stop_handler();
    o.job.trace = o.observers.trace;
    o.job.warn = print_warning;
    score_report report;
    try {
        report = run_score_job(o.job, ranks, stop);
    } catch (const job_stopped& e) {
        fmt::print(stderr, "npyflow: {}\n", e.what());
        return exit_interrupted;
    }
    const score_job& job = o.job;
    if (report.already_complete) {
        if (ranks.rank() == 0) fmt::print(stderr, "npyflow: {} is already complete\n", printable_path(job.output));
        return 0;
    }
    print_observations(report.run, o.observers, ranks);
    if (report.non_finite > 0 && ranks.rank() == 0) {
        fmt::print(stderr,
                   "npyflow: warning: {} of {} rows had NaN or Inf in the network's input{}; all their outputs are "
                   "NaN{} (see \"Non-finite inputs\" in docs/model-spec.md)\n",
                   report.non_finite, report.rows,
                   report.first_non_finite && !ranks.distributed()
                       ? fmt::format(" (the first{}: row {})", report.rows_before > 0 ? " since the resume" : "",
                                     *report.first_non_finite)
                       : "",
                   job.kind == output_kind::argmax ? " and their argmax -1" : "");
    }
    if (report.correct && ranks.rank() == 0) {
        fmt::print("accuracy: {:.4f} ({} of {} correct)\n",
                   report.rows ? static_cast<double>(*report.correct) / static_cast<double>(report.rows) : 0.0,
                   *report.correct, report.rows);
    }
    bool within_reference = true;
    if (!job.reference.empty() && ranks.rank() == 0) {
        const auto result = compare_with_reference(job.output, job.reference, o.atol);
        fmt::print("{}\n", result.text);
        within_reference = result.within;
    }
    const pipeline_report& run = report.run.pipeline;
    if (const auto whole_job = ranks_summary(ranks, run); !whole_job.empty()) {
        if (ranks.rank() == 0 && !o.quiet) {
            fmt::print(stderr, "npyflow: score on {}; wrote {} ({})\n", whole_job,
                       job.output_to.shards ? printable_path(shard_path(job.output, 0, ranks.size())) + "..."
                                            : printable_path(job.output),
                       format_shape(report.output_shape));
        }
    } else if (!o.quiet) {
        const double s = std::max(run.seconds, 1e-9);
        fmt::print(stderr,
                   "npyflow: {}scored {} rows in {:.3f} s: {:.0f} rows/s, {:.2f} GFLOP/s; wrote {} ({}); peak RSS "
                   "{:.0f} MB [{} | {}; {}, batch {}, prefetch {}; inference {}]\n",
                   resumed_text(run, report.rows), run.rows, run.seconds, static_cast<double>(run.rows) / s,
                   report.flops_per_sample * static_cast<double>(run.rows) / s / 1e9, printable_path(report.written),
                   format_shape(report.output_shape), static_cast<double>(peak_resident_bytes()) / 1e6,
                   report.preprocess_text, report.network_text, threads_text(run.threads), job.pipeline.batch_rows,
                   run.prefetch, report.inference);
    }
    return within_reference ? 0 : 1;
}

}  // namespace

void add_score_command(CLI::App& app, command_runner& run) {
    auto o = std::make_shared<score_options>();
    auto* cmd = app.add_subcommand("score",
                                   "Run .npy inputs through a model spec's preprocess ops and network (oneDNN), with "
                                   "weights from .npz/.npy, into one .npy in input order");
    cmd->add_option("INPUT", o->job.inputs, "Input .npy files; same dtype and row shape (optional with --dry-run)");
    auto* output = cmd->add_option("-o", o->job.output, "Output .npy: float32 (N, the network's output shape), or int64 without its "
                                     "last axis for argmax; written as OUT.partial and renamed when complete");
    cmd->add_option("--model", o->job.model, "Model spec JSON (docs/model-spec.md)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--weights", o->job.weights,
                    "Weights: an .npz, a directory of .npy files, one flat 1-D .npy in layer order, a PyTorch "
                    "checkpoint (.pth/.pt), a Keras .h5, or a pickled .npy (np.save of a list or dict of arrays); "
                    "docs/weights.md")
        ->required()
        ->check(CLI::ExistingPath);
    cmd->add_option("--weights-key", o->job.weights_key,
                    "The key of the weights in a checkpoint's dict (\"state_dict\", \"model\"); found by itself "
                    "when only one dict holds arrays");
    cmd->add_flag("--dry-run", o->dry_run,
                  "Bind the weights and print each layer's shapes, arrays and parameters; run nothing, write nothing");
    cmd->add_option("--reference", o->job.reference,
                    "A .npy of trusted outputs (PyTorch's, say): compare, report the max error and the first rows "
                    "over --atol, exit 1 if any")
        ->check(CLI::ExistingFile);
    cmd->add_option("--atol", o->atol, "Tolerance for --reference")->capture_default_str()->check(CLI::NonNegativeNumber);
    const auto kinds = CLI::IsMember({"logits", "probs", "argmax"});
    auto* kind = cmd->add_option("--output-kind", o->output_name,
                                 "What to write: logits (the network's outputs), probs (softmax), argmax")
                     ->check(kinds)
                     ->capture_default_str();
    // The old spelling, kept working: -o,--output names the output file in preprocess, and will here.
    auto* old_kind = cmd->add_option("--output", o->output_name, "Deprecated: --output-kind")->check(kinds)->excludes(kind);
    cmd->add_option("--labels", o->job.labels, "Integer class labels (.npy, one per row): prints accuracy")
        ->check(CLI::ExistingFile);
    cmd->add_flag("--strict", o->job.strict, "Arrays in the weights that no layer uses are an error, not a warning");
    add_pipeline_options(cmd, o->job.pipeline, o->job.max_memory);
    cmd->add_option("--inference", o->inference_name,
                    "How oneDNN's threads share the cores. streams: each thread runs its own single-threaded "
                    "oneDNN stream; parallel: one batch at a time, oneDNN's OpenMP on every thread; auto: times "
                    "the job's first rows both ways and keeps the faster (the summary says which)")
        ->check(CLI::IsMember({"auto", "streams", "parallel"}))
        ->capture_default_str();
    add_observer_options(cmd, o->observers);
    add_output_options(cmd, o->job.output_to);
    cmd->add_flag("-q,--quiet", o->quiet, "No summary line");
    cmd->callback([&run, o, output, old_kind] {
        if (old_kind->count() > 0) {
            fmt::print(stderr, "npyflow: warning: --output {0} is deprecated: write --output-kind {0} (--output will "
                               "name the output file, as in preprocess)\n",
                       o->output_name);
        }
        if (!o->dry_run && (o->job.inputs.empty() || output->count() == 0)) {
            throw CLI::ValidationError("score needs INPUT and -o (only --dry-run runs without them)");
        }
        if (!o->job.reference.empty() && o->job.output_to.shards) {
            throw CLI::ValidationError("--reference compares one output file; it cannot be used with --shards");
        }
        o->job.kind = parse_output_kind(o->output_name);
        o->job.inference = o->inference_name == "parallel" ? inference_mode::parallel
                       : o->inference_name == "streams" ? inference_mode::streams
                                                        : inference_mode::auto_;
        o->job.pipeline.progress = ::isatty(STDERR_FILENO) != 0 && !o->quiet;
        run = [o] { return run_score(*o); };
    });
}

}  // namespace npyflow::cli
