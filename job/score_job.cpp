#include "npyflow/job/score_job.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/small_file.hpp"
#include "npyflow/job/accuracy_tally.hpp"
#include "npyflow/job/job_fingerprint.hpp"
#include "npyflow/job/job_paths.hpp"
#include "npyflow/job/memory_estimate.hpp"
#include "npyflow/job/model.hpp"
#include "npyflow/job/reference_check.hpp"
#include "npyflow/job/stages.hpp"
#include "npyflow/job/thread_budget.hpp"
#include "npyflow/nn/network.hpp"
#include "npyflow/nn/param_binding.hpp"
#include "npyflow/nn/weight_source.hpp"
#include "npyflow/pipeline/dataset.hpp"

namespace npyflow {
namespace {

// A count a resumed job's journal recorded: an integer no larger than the rows it covers.
std::uint64_t resumed_count(const nlohmann::json& state, const char* key, std::uint64_t most) {
    if (!state.contains(key)) return 0;
    const auto& v = state[key];
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() > most) {
        throw error(fmt::format("the journal's '{}' is {}, not a count of at most {} rows; delete the journal and "
                                "the partial file to start over",
                                key, v.dump(), most));
    }
    return v.get<std::uint64_t>();
}

std::uint64_t sum(const std::vector<double>& per_rank) {  // exact below 2^53
    return static_cast<std::uint64_t>(std::accumulate(per_rank.begin(), per_rank.end(), 0.0));
}

// What the job holds at its peak: the weights, each thread's activations, the batches in
// flight with their buffers (the input as read, the preprocess scratch, the outputs).
void check_memory(const score_job& job, const pipeline_options& pipeline, const network& net, bool timing_both_ways,
                  const dataset& input, const preprocess_plan& plan, rank_group& ranks) {
    memory_estimate memory;
    // As bound, and reordered once for every thread (for each way while auto times them).
    memory.add("weights", 1, net.weight_bytes());
    memory.add("weights reordered", timing_both_ways ? 2 : 1, net.reordered_weight_bytes());
    memory.add(fmt::format("activations ({} row{} a thread; the largest: {})", net.micro_batch_rows(),
                           net.micro_batch_rows() == 1 ? "" : "s", net.largest_activation()),
               pipeline.threads, net.activation_bytes());
    add_batch_memory(memory, pipeline, input, plan, net.output_values() * sizeof(float));
    ranks.agree([&] { memory.check(job.max_memory, ranks.local_size(), "lower --batch, --prefetch or --threads"); });
}

// The two ways inference can share the cores, built before the job runs; with auto, both,
// until one is chosen.
struct inference_ways {
    std::unique_ptr<network> chosen, other;
    bool parallel = false;
    std::string text;

    inference_ways(bound_model bound, inference_mode mode, unsigned threads) : parallel(mode == inference_mode::parallel) {
        // With auto, both ways are built (no primitives yet) and timed once the memory guard
        // has passed; the one not chosen is dropped.
        if (mode == inference_mode::auto_) other = std::make_unique<network>(bound, static_cast<int>(threads));
        chosen = std::make_unique<network>(std::move(bound), parallel ? static_cast<int>(threads) : 1);
        text = parallel ? "parallel" : "streams";
    }
    void keep(bool use_parallel, const std::string& reason) {
        if (use_parallel) std::swap(chosen, other);
        other.reset();
        parallel = use_parallel;
        text = fmt::format("{} ({})", parallel ? "parallel" : "streams", reason);
    }
    // Times both ways on this rank's first rows, now that the job is known to need running;
    // a failure there (a bad row) is every rank's.
    void choose(const dataset& input, const preprocess_plan& plan, unsigned threads, rank_group& ranks) {
        ranks.agree([&] {
            const auto share = ranks.share(input.rows());
            const std::uint64_t count = std::min(share.end - share.begin, inference_timing_rows(threads));
            std::vector<std::byte> raw;
            preprocess_plan::scratch scratch;
            const auto rows = count ? plan.run(input.read_rows(share.begin, count, raw), count, scratch)
                                    : std::span<const std::byte>{};
            const auto choice = choose_inference(
                *chosen, *other, {reinterpret_cast<const float*>(rows.data()), count * chosen->input_values()}, count,
                threads, share.begin);
            keep(choice.parallel, choice.reason);
            chosen->release_plans();  // those of the threads that timed it
        });
    }
};

}  // namespace

score_report run_score_job(const score_job& job, rank_group& ranks, const std::atomic<bool>& stop) {
    const auto warn = [&](const std::string& text) {
        if (job.warn) job.warn(text);
    };
    job_paths paths;
    for (const auto& in : job.inputs) paths.reads("input", in);
    paths.reads("--model", job.model);
    paths.reads("--weights", job.weights, true);
    if (!job.labels.empty()) paths.reads("--labels", job.labels);
    if (!job.reference.empty()) paths.reads("--reference", job.reference);
    check_job_paths(paths, job.output, job.output_to, job.trace, ranks);
    pipeline_options pipeline = job.pipeline;
    pipeline.threads = settle_threads(pipeline.threads, ranks, warn);
    const unsigned threads = pipeline.threads;
    check_small_file(job.model, "JSON spec");  // before describing it: a device, a pipe
    // Everything that decides the output's bytes (--threads, --batch and --prefetch do not),
    // described before any of it is read.
    job_fingerprint fingerprint("score");
    fingerprint.add_option("--output", std::string(name(job.kind)));  // --output-kind's old name: journals already written keep matching
    fingerprint.add_option("--inference", job.inference == inference_mode::auto_      ? "auto"
                                          : job.inference == inference_mode::parallel ? "parallel"
                                                                                       : "streams");
    // Which arrays of a checkpoint are the weights (recorded only when given, so that journals
    // written before the option existed keep matching).
    if (!job.weights_key.empty()) fingerprint.add_option("--weights-key", job.weights_key);
    fingerprint.add_inputs(job.inputs);
    fingerprint.add_file("model", job.model);
    fingerprint.add_file("weights", job.weights);
    if (!job.labels.empty()) fingerprint.add_file("labels", job.labels, true);
    const weight_source weights(job.weights, job.weights_key);
    const model_spec spec = read_model_spec(job.model, weights);
    const dataset input(job.inputs);
    const preprocess_plan plan =
        network_input_plan(spec, {input.type(), input.row_shape()}, input.rows(), printable_path(job.model));
    // The weights are copied as they are bound, so the file is not read again.
    bound_model bound = bind_parameters(spec, weights, job.strict);
    for (const auto& w : bound.warnings) warn(w);
    inference_ways ways(std::move(bound), job.inference, threads);

    score_report report;
    report.rows = input.rows();
    // The output keeps the network's sample shape: (rows, classes), (rows, T, classes), ...;
    // argmax drops the last axis.
    const std::uint64_t outputs = ways.chosen->output_values(), classes = ways.chosen->output_shape().back();
    report.output_shape = output_file_shape(input.rows(), ways.chosen->output_shape(), job.kind);
    if (!job.reference.empty()) check_reference_shape(job.reference, report.output_shape);  // before the job, not after
    std::optional<accuracy_tally> accuracy;
    if (!job.labels.empty()) {
        if (outputs != classes) {
            throw error(fmt::format("--labels needs one class score vector a row, but the network gives {} a row; "
                                    "score without --labels",
                                    format_shape(ways.chosen->output_shape())));
        }
        accuracy.emplace(job.labels, input.rows(), classes, ranks.share(input.rows()));
    }
    throw_if_changed_while_read(fingerprint);
    check_memory(job, pipeline, *ways.chosen, ways.other != nullptr, input, plan, ranks);

    resumable_output output(job.output, output_dtype(job.kind), report.output_shape, fingerprint, job.output_to, ranks);
    report.written = output.file();
    if (output.already_complete()) {
        report.already_complete = true;
        return report;
    }
    // A resumed auto job keeps the way the run it resumes chose (its journal says), so that
    // all its rows come from one of them.
    const nlohmann::json& resumed = output.resumed_sink_state();
    if (ways.other && resumed.contains("inference") &&
        (resumed["inference"] == "streams" || resumed["inference"] == "parallel")) {
        ways.keep(resumed["inference"] == "parallel", "auto: as the run it resumes chose");
    }
    if (ways.other) ways.choose(input, plan, threads, ranks);
    const network& net = *ways.chosen;

    // Predictions matching the labels, and rows whose input was not finite, over every row
    // written so far (a resumed job's too).
    report.rows_before = output.first_row() - ranks.share(input.rows()).begin;
    if (accuracy) accuracy->resume_from(resumed_count(resumed, "correct", report.rows_before));
    std::uint64_t non_finite = resumed_count(resumed, "non_finite", report.rows_before);
    const char* way = ways.parallel ? "parallel" : "streams";
    const auto sink = [&](const batch& b) {
        non_finite += b.flagged_rows;
        if (b.flagged_rows > 0 && !report.first_non_finite) report.first_non_finite = b.first_flagged_row;
        if (!accuracy) return output.write(b, {{"non_finite", non_finite}, {"inference", way}});
        accuracy->count(b, job.kind);
        output.write(b, {{"correct", accuracy->correct()}, {"non_finite", non_finite}, {"inference", way}});
    };
    report.run = run_job(input, {preprocess_stage(plan), infer_stage(net, job.kind, ways.parallel)}, sink, pipeline,
                         stop, job.trace, output, ranks);
    report.non_finite = sum(ranks.gather(static_cast<double>(non_finite)));
    if (accuracy) report.correct = sum(ranks.gather(static_cast<double>(accuracy->correct())));
    report.inference = ways.text;
    report.preprocess_text = plan.describe();
    report.network_text = net.describe();
    report.flops_per_sample = net.flops_per_sample();
    return report;
}

}  // namespace npyflow
