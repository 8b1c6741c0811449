// npyflow score: streams .npy inputs through a model spec's preprocess ops and network, with
// weights from .npy/.npz, into one .npy of logits, probabilities or class indices.

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/inference_choice.hpp"
#include "cli/job_fingerprint.hpp"
#include "cli/job_paths.hpp"
#include "cli/memory_budget.hpp"
#include "cli/model_files.hpp"
#include "cli/model_summary.hpp"
#include "cli/reference_check.hpp"
#include "cli/peak_memory.hpp"
#include "cli/rank_group.hpp"
#include "cli/pipeline_job.hpp"
#include "cli/stop_signal.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_format.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/json_file.hpp"
#include "npyflow/io/small_file.hpp"
#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/network.hpp"
#include "npyflow/nn/param_binding.hpp"
#include "npyflow/nn/weight_source.hpp"
#include "npyflow/ops/op_registry.hpp"
#include "npyflow/ops/preprocess_plan.hpp"
#include "npyflow/ops/saturate_cast.hpp"
#include "npyflow/pipeline/dataset.hpp"
#include "npyflow/pipeline/pipeline.hpp"

namespace npyflow::cli {
namespace {

enum class output_kind { logits, probs, argmax };

// How oneDNN's threads share the cores with the pipeline's (docs/architecture.md).
enum class inference_mode { streams, parallel, auto_ };

struct score_options {
    std::vector<std::filesystem::path> inputs;
    std::filesystem::path output, model, weights, labels, reference;
    std::string weights_key;
    bool dry_run = false;
    double atol = 1e-4;
    output_kind output_as = output_kind::logits;
    bool strict = false;
    bool quiet = false;
    inference_mode inference = inference_mode::auto_;
    // --output and --inference as typed: checked against their names, mapped once parsed
    // (CLI11 would otherwise show and accept the enums' numbers).
    std::string output_name = "logits", inference_name = "auto";
    pipeline_options pipeline;
    std::uint64_t max_memory = 0;  // 0: what is available
    job_observers observers;
    output_options output_to;
};

std::int64_t label_at(dtype type, const std::byte* p) {
    return visit_dtype(type, [&](auto zero) {
        decltype(zero) v;
        std::memcpy(&v, p, sizeof(v));
        return saturate_cast<std::int64_t>(v);
    });
}

// The predicted class: the first largest output, as numpy's argmax; -1 (no class) for a row
// with a NaN output, where numpy and PyTorch would name the first NaN's class, a prediction
// that means nothing and that --labels would count as right.
std::int64_t predicted_class(const float* row, std::uint64_t classes) {
    if (std::any_of(row, row + classes, [](float v) { return std::isnan(v); })) return -1;
    return std::max_element(row, row + classes) - row;
}

// Turns a batch's network outputs into the requested form, in place of the batch's data.
// Probabilities and classes are over the output's last axis: per row, or per time step of
// an output (T, classes).
void finish_rows(batch& b, std::span<const float> out, std::uint64_t classes, output_kind kind, layer_kind last,
                 std::vector<std::byte>& buffer) {
    const std::uint64_t vectors = out.size() / classes;  // rows x positions
    if (kind == output_kind::argmax) {
        buffer.resize(vectors * sizeof(std::int64_t));
        for (std::uint64_t r = 0; r < vectors; ++r) {
            const std::int64_t best = predicted_class(out.data() + r * classes, classes);
            std::memcpy(buffer.data() + r * sizeof(best), &best, sizeof(best));
        }
        b.data = buffer;
        return;
    }
    buffer.resize(out.size_bytes());
    std::memcpy(buffer.data(), out.data(), out.size_bytes());
    if (kind == output_kind::probs && last != layer_kind::softmax) {
        auto* v = reinterpret_cast<float*>(buffer.data());
        for (std::uint64_t r = 0; r < vectors; ++r) {
            float* row = v + r * classes;
            if (last == layer_kind::log_softmax) {
                for (std::uint64_t c = 0; c < classes; ++c) row[c] = std::exp(row[c]);
                continue;
            }
            const float top = *std::max_element(row, row + classes);
            double sum = 0;
            for (std::uint64_t c = 0; c < classes; ++c) sum += row[c] = std::exp(row[c] - top);
            for (std::uint64_t c = 0; c < classes; ++c) row[c] = static_cast<float>(row[c] / sum);
        }
    }
    b.data = buffer;
}

// Every label of this rank's rows is a class index of the network, checked before the job
// starts (a scan of 8 bytes a row at most): a label no prediction can equal (-1 for
// "unlabelled", a class past the network's outputs) would count as a wrong prediction and
// make the accuracy silently wrong. The error names the row.
void check_labels(const npy_array& labels, const std::filesystem::path& path, row_range rows, std::uint64_t classes) {
    std::vector<std::byte> chunk;
    constexpr std::uint64_t chunk_rows = 1 << 16;
    for (std::uint64_t first = rows.begin; first < rows.end; first += chunk_rows) {
        const std::uint64_t n = std::min(chunk_rows, rows.end - first);
        chunk.resize(n * labels.row_bytes());
        labels.copy_rows(first, n, chunk);
        for (std::uint64_t r = 0; r < n; ++r) {
            const std::byte* p = chunk.data() + r * labels.row_bytes();
            const std::int64_t label = label_at(labels.header().type, p);
            if (label >= 0 && static_cast<std::uint64_t>(label) < classes) continue;
            std::string value = std::to_string(label);
            if (labels.header().type == dtype::uint64) {  // saturated above: show the stored value
                std::uint64_t raw;
                std::memcpy(&raw, p, sizeof(raw));
                value = std::to_string(raw);
            }
            throw error(fmt::format("{}: row {} holds {}, which is not a class index of this network (0 to {})",
                                    printable_path(path), first + r, value, classes - 1));
        }
    }
}

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

// The preprocess ops' samples are what the network takes; where not, the hint is one that
// would work: a cast or reshape only when it would make them fit.
void check_network_input(const preprocess_plan& plan, const dataset& input, const model_spec& spec,
                         const std::filesystem::path& model) {
    const auto& got = plan.output();
    if (got.type == dtype::float32 && got.shape == spec.input_shape) return;
    std::uint64_t have = 1, want = 1;
    for (auto d : got.shape) have *= d;
    for (auto d : spec.input_shape) want *= d;
    std::vector<std::string> fixes;
    if (got.type != dtype::float32) fixes.push_back(R"({"op": "cast", "dtype": "float32"})");
    // The same sizes in another order are most likely the same data in another axis order
    // (channels last for a channels-first network): a transpose fixes that, a reshape would
    // only mix the values up.
    std::vector<std::size_t> axes;
    if (got.shape != spec.input_shape && std::is_permutation(got.shape.begin(), got.shape.end(), spec.input_shape.begin(),
                                                             spec.input_shape.end())) {
        std::vector<bool> taken(got.shape.size(), false);
        for (const auto d : spec.input_shape) {
            std::size_t a = 0;
            while (taken[a] || got.shape[a] != d) ++a;
            taken[a] = true;
            axes.push_back(a);
        }
    }
    if (!axes.empty()) {
        fixes.push_back(fmt::format(R"({{"op": "transpose", "axes": [{}]}} (if the file's axes are in another order; a )"
                                    R"(reshape would keep the values in their order and mix them up))",
                                    fmt::join(axes, ", ")));
    } else if (got.shape != spec.input_shape && have == want) {
        fixes.push_back(fmt::format(R"({{"op": "reshape", "shape": [{}]}})", fmt::join(spec.input_shape, ", ")));
    }
    std::string hint;
    if (have != want && input.row_shape().empty() && input.rows() == want) {
        hint = fmt::format("rows are a file's first axis, so this 1-D file is {} samples of one value; one sample of {} "
                           "values is saved as shape (1, {}) (np.save(path, x[None]))",
                           input.rows(), want, want);
    } else if (have != want) {
        hint = fmt::format("a sample holds {} values and the network's input {}: check \"input\": {{\"shape\"}} "
                           "and the preprocess ops",
                           have, want);
    } else {
        hint = fmt::format("add {} to \"preprocess\"", fmt::join(fixes, " and "));
    }
    throw error(fmt::format("{}: the preprocess ops produce samples of {}, but the network's input is float32 {}; {}",
                            printable_path(model), got.to_string(), format_shape(spec.input_shape), hint));
}

// The spec's preprocess ops on the input's rows, checked to give what the network takes.
preprocess_plan network_input_plan(const model_spec& spec, const dataset& input, const std::filesystem::path& model) {
    preprocess_plan plan = with_context(printable_path(model), [&] {
        return preprocess_plan(parse_ops(spec.preprocess), {input.type(), input.row_shape()});
    });
    check_network_input(plan, input, spec, model);
    return plan;
}

// --dry-run: binds the weights and prints the model's summary; nothing runs, nothing is
// written. With inputs, their samples are checked against the network's input too.
int run_dry_run(const score_options& o) {
    check_small_file(o.model, "JSON spec");
    const weight_source weights(o.weights, o.weights_key);
    const model_spec spec = read_spec(o.model, weights);
    if (!o.inputs.empty()) {
        (void)network_input_plan(spec, dataset(o.inputs), o.model);
    }
    bound_model bound = bind_parameters(spec, weights, o.strict);
    for (const auto& w : bound.warnings) fmt::print(stderr, "npyflow: warning: {}\n", w);
    const bound_model shown = bound;  // the network takes the bound arrays
    const network net(std::move(bound), 1);
    fmt::print("{}", format_model_summary(shown, net));
    fmt::print(stderr, "npyflow: dry run: {} binds to {} ({}){}; nothing was run\n", printable_path(o.model),
               weights.where(), weights.format_name(), o.inputs.empty() ? "" : ", and the inputs fit its input");
    return 0;
}

int run_score(score_options& o) {
    if (o.dry_run) return run_dry_run(o);
    auto& ranks = rank_group::world();
    const auto& stop = install_stop_handler();
    job_paths paths;
    for (const auto& in : o.inputs) paths.reads("input", in);
    paths.reads("--model", o.model);
    paths.reads("--weights", o.weights, true);
    if (!o.labels.empty()) paths.reads("--labels", o.labels);
    if (!o.reference.empty()) paths.reads("--reference", o.reference);
    check_job_paths(paths, o.output, o.output_to, o.observers, ranks);
    o.pipeline.threads = settle_threads(o.pipeline.threads, ranks);
    if (!o.model.empty()) check_small_file(o.model, "JSON spec");  // before describing it: a device, a pipe
    // Everything that decides the output's bytes (--threads, --batch and --prefetch do not),
    // described before any of it is read.
    job_fingerprint fingerprint("score");
    fingerprint.add_option("--output", o.output_name);  // --output-kind's old name: journals already written keep matching
    fingerprint.add_option("--inference", o.inference_name);
    // Which arrays of a checkpoint are the weights (recorded only when given, so that journals
    // written before the option existed keep matching).
    if (!o.weights_key.empty()) fingerprint.add_option("--weights-key", o.weights_key);
    fingerprint.add_inputs(o.inputs);
    fingerprint.add_file("model", o.model);
    fingerprint.add_file("weights", o.weights);
    if (!o.labels.empty()) fingerprint.add_file("labels", o.labels, true);
    const weight_source weights(o.weights, o.weights_key);
    const model_spec spec = read_spec(o.model, weights);
    const dataset input(o.inputs);
    const preprocess_plan plan = network_input_plan(spec, input, o.model);
    // The weights are copied as they are bound, so the file is not read again.
    bound_model bound = bind_parameters(spec, weights, o.strict);
    for (const auto& w : bound.warnings) fmt::print(stderr, "npyflow: warning: {}\n", w);
    const unsigned threads = o.pipeline.threads;
    // With --inference auto, both ways are built (no primitives yet) and timed once the
    // memory guard has passed; the one not chosen is dropped.
    bool parallel = o.inference == inference_mode::parallel;
    std::unique_ptr<network> other;
    if (o.inference == inference_mode::auto_) other = std::make_unique<network>(bound, static_cast<int>(threads));
    auto chosen = std::make_unique<network>(std::move(bound), parallel ? static_cast<int>(threads) : 1);
    const network* net = chosen.get();  // the one kept, once auto has chosen
    // The output keeps the network's sample shape: (rows, classes), (rows, T, classes), ...;
    // argmax drops the last axis.
    const std::uint64_t outputs = net->output_values(), classes = net->output_shape().back();
    std::vector<std::uint64_t> out_shape{input.rows()};
    out_shape.insert(out_shape.end(), net->output_shape().begin(), net->output_shape().end());
    if (o.output_as == output_kind::argmax) out_shape.pop_back();

    if (!o.reference.empty()) check_reference_shape(o.reference, out_shape);  // before the job, not after
    std::optional<npy_array> labels;
    if (!o.labels.empty()) {
        if (outputs != classes) {
            throw error(fmt::format("--labels needs one class score vector a row, but the network gives {} a row; "
                                    "score without --labels",
                                    format_shape(net->output_shape())));
        }
        labels = open_npy(o.labels);
        const dtype label_type = labels->header().type;
        if (labels->rows() != input.rows() || labels->row_elements() != 1 || is_floating(label_type) ||
            label_type == dtype::bool_) {
            throw error(fmt::format("{}: labels must be {} integers, one per row, got {} {}", printable_path(o.labels),
                                    input.rows(), name(labels->header().type), format_shape(labels->header().shape)));
        }
        check_labels(*labels, o.labels, ranks.share(input.rows()), classes);
    }

    throw_if_changed_while_read(fingerprint);

    // What the job holds at its peak: the weights, each thread's activations, the batches in
    // flight with their buffers (the input as read, the preprocess scratch, the outputs).
    memory_estimate memory;
    // As bound, and reordered once for every thread (for each way while auto times them).
    memory.add("weights", other ? 3 : 2, net->weight_bytes());
    memory.add(fmt::format("activations (64 rows a thread; the largest: {})", net->largest_activation()), threads,
               net->activation_bytes());
    add_batch_memory(memory, o.pipeline, input, plan, outputs * sizeof(float));
    ranks.agree([&] {
        memory.check(o.max_memory, ranks.local_size(), "lower --batch, --prefetch or --threads");
    });

    resumable_output output(o.output, o.output_as == output_kind::argmax ? dtype::int64 : dtype::float32, out_shape,
                            fingerprint, o.output_to, ranks);
    if (output.already_complete()) {
        if (ranks.rank() == 0) fmt::print(stderr, "npyflow: {} is already complete\n", printable_path(o.output));
        return 0;
    }
    std::string inference_text = parallel ? "parallel" : "streams";
    // With auto, keeps one of the two networks and drops the other.
    auto keep_way = [&](bool use_parallel, const std::string& reason) {
        if (use_parallel) std::swap(chosen, other);
        other.reset();
        net = chosen.get();
        parallel = use_parallel;
        inference_text = fmt::format("{} ({})", parallel ? "parallel" : "streams", reason);
    };
    // A resumed auto job keeps the way the run it resumes chose (its journal says), so that
    // all its rows come from one of them.
    const nlohmann::json& resumed = output.resumed_sink_state();
    if (other && resumed.contains("inference") && (resumed["inference"] == "streams" || resumed["inference"] == "parallel")) {
        keep_way(resumed["inference"] == "parallel", "auto: as the run it resumes chose");
    }
    // Otherwise both ways are timed on this rank's first rows, now that the job is known to
    // need running; a failure there (a bad row) is every rank's.
    if (other) {
        ranks.agree([&] {
            const auto share = ranks.share(input.rows());
            const std::uint64_t count = std::min(share.end - share.begin, inference_timing_rows(threads));
            std::vector<std::byte> raw;
            preprocess_plan::scratch scratch;
            const auto rows = count ? plan.run(input.read_rows(share.begin, count, raw), count, scratch)
                                    : std::span<const std::byte>{};
            const auto choice =
                choose_inference(*net, *other, {reinterpret_cast<const float*>(rows.data()), count * net->input_values()},
                                 count, threads, share.begin);
            keep_way(choice.parallel, choice.reason);
            chosen->release_plans();  // those of the threads that timed it
        });
    }
    // Predictions matching --labels, over every row written so far (a resumed job's too).
    const std::uint64_t rows_before = output.first_row() - ranks.share(input.rows()).begin;
    std::uint64_t correct = resumed_count(resumed, "correct", rows_before);
    // Rows whose network input held NaN or Inf (their outputs are NaN), and the first of them.
    std::uint64_t non_finite = resumed_count(resumed, "non_finite", rows_before);
    std::optional<std::uint64_t> first_non_finite;  // in this run

    thread_local std::vector<float> logits;
    const std::vector<stage> stages{
        preprocess_stage(plan),
        {"infer", [&](batch& b) {
             logits.resize(b.rows * outputs);
             const std::span<const float> src(reinterpret_cast<const float*>(b.data.data()), b.rows * net->input_values());
             b.flagged_rows = net->run(src, b.rows, logits, b.first_row);
             if (b.flagged_rows > 0) {
                 std::uint64_t r = 0;
                 while (r + 1 < b.rows && !std::isnan(logits[r * outputs])) ++r;
                 b.first_flagged_row = b.first_row + r;
             }
             finish_rows(b, logits, classes, o.output_as, net->last_layer(), b.spare_scratch());
         },
         parallel}};
    std::vector<std::byte> label_rows;
    const auto sink = [&](const batch& b) {
        non_finite += b.flagged_rows;
        if (b.flagged_rows > 0 && !first_non_finite) first_non_finite = b.first_flagged_row;
        const char* way = parallel ? "parallel" : "streams";
        if (!labels) return output.write(b, {{"non_finite", non_finite}, {"inference", way}});
        label_rows.resize(b.rows * labels->row_bytes());
        labels->copy_rows(b.first_row, b.rows, label_rows);
        for (std::uint64_t r = 0; r < b.rows; ++r) {
            const std::int64_t want = label_at(labels->header().type, label_rows.data() + r * labels->row_bytes());
            std::int64_t got = 0;
            if (o.output_as == output_kind::argmax) {
                std::memcpy(&got, b.data.data() + r * 8, 8);
            } else {
                got = predicted_class(reinterpret_cast<const float*>(b.data.data()) + r * classes, classes);
            }
            correct += got == want;
        }
        output.write(b, {{"correct", correct}, {"non_finite", non_finite}, {"inference", way}});
    };
    const auto done = run_job(input, stages, sink, o.pipeline, stop, o.observers, output, ranks);
    if (!done) return exit_interrupted;
    const pipeline_report& report = *done;
    const double flush_seconds = output.commit(o.pipeline.progress);
    if (o.observers.stats) fmt::print(stderr, "{}", format_flush_stats(flush_seconds, output));
    const auto non_finite_per_rank = ranks.gather(static_cast<double>(non_finite));  // exact below 2^53
    if (const auto all = std::accumulate(non_finite_per_rank.begin(), non_finite_per_rank.end(), 0.0); all > 0) {
        if (ranks.rank() == 0) {
            fmt::print(stderr,
                       "npyflow: warning: {:.0f} of {} rows had NaN or Inf in the network's input{}; all their "
                       "outputs are NaN{} (see \"Non-finite inputs\" in docs/model-spec.md)\n",
                       all, input.rows(),
                       first_non_finite && !ranks.distributed()
                           ? fmt::format(" (the first{}: row {})", rows_before > 0 ? " since the resume" : "",
                                         *first_non_finite)
                           : "",
                       o.output_as == output_kind::argmax ? " and their argmax -1" : "");
        }
    }
    if (labels) {
        const auto per_rank = ranks.gather(static_cast<double>(correct));  // exact below 2^53
        const auto all_correct = static_cast<std::uint64_t>(std::accumulate(per_rank.begin(), per_rank.end(), 0.0));
        if (ranks.rank() == 0) {
            fmt::print("accuracy: {:.4f} ({} of {} correct)\n",
                       input.rows() ? static_cast<double>(all_correct) / static_cast<double>(input.rows()) : 0.0,
                       all_correct, input.rows());
        }
    }
    bool within_reference = true;
    if (!o.reference.empty() && ranks.rank() == 0) {
        const auto result = compare_with_reference(o.output, o.reference, o.atol);
        fmt::print("{}\n", result.text);
        within_reference = result.within;
    }
    if (const auto whole_job = ranks_summary(ranks, report); !whole_job.empty()) {
        if (ranks.rank() == 0 && !o.quiet) {
            fmt::print(stderr, "npyflow: score on {}; wrote {} ({})\n", whole_job,
                       o.output_to.shards ? printable_path(shard_path(o.output, 0, ranks.size())) + "..." : printable_path(o.output),
                       format_shape(out_shape));
        }
    } else if (!o.quiet) {
        const double s = std::max(report.seconds, 1e-9);
        fmt::print(stderr,
                   "npyflow: {}scored {} rows in {:.3f} s: {:.0f} rows/s, {:.2f} GFLOP/s; wrote {} ({}); peak RSS "
                   "{:.0f} MB [{} | {}; {}, batch {}, prefetch {}; inference {}]\n",
                   resumed_text(report, input.rows()), report.rows, report.seconds, static_cast<double>(report.rows) / s,
                   net->flops_per_sample() * static_cast<double>(report.rows) / s / 1e9, printable_path(output.file()),
                   format_shape(out_shape), static_cast<double>(peak_resident_bytes()) / 1e6, plan.describe(),
                   net->describe(), threads_text(report.threads), o.pipeline.batch_rows, report.prefetch, inference_text);
    }
    return within_reference ? 0 : 1;
}

}  // namespace

void add_score_command(CLI::App& app, command_runner& run) {
    auto o = std::make_shared<score_options>();
    auto* cmd = app.add_subcommand("score",
                                   "Run .npy inputs through a model spec's preprocess ops and network (oneDNN), with "
                                   "weights from .npz/.npy, into one .npy in input order");
    cmd->add_option("INPUT", o->inputs, "Input .npy files; same dtype and row shape (optional with --dry-run)");
    auto* output = cmd->add_option("-o", o->output, "Output .npy: float32 (N, the network's output shape), or int64 without its "
                                     "last axis for argmax; written as OUT.partial and renamed when complete");
    cmd->add_option("--model", o->model, "Model spec JSON (docs/model-spec.md)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--weights", o->weights,
                    "Weights: an .npz, a directory of .npy files, one flat 1-D .npy in layer order, a PyTorch "
                    "checkpoint (.pth/.pt), a Keras .h5, or a pickled .npy (np.save of a list or dict of arrays); "
                    "docs/weights.md")
        ->required()
        ->check(CLI::ExistingPath);
    cmd->add_option("--weights-key", o->weights_key,
                    "The key of the weights in a checkpoint's dict (\"state_dict\", \"model\"); found by itself "
                    "when only one dict holds arrays");
    cmd->add_flag("--dry-run", o->dry_run,
                  "Bind the weights and print each layer's shapes, arrays and parameters; run nothing, write nothing");
    cmd->add_option("--reference", o->reference,
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
    cmd->add_option("--labels", o->labels, "Integer class labels (.npy, one per row): prints accuracy")
        ->check(CLI::ExistingFile);
    cmd->add_flag("--strict", o->strict, "Arrays in the weights that no layer uses are an error, not a warning");
    add_pipeline_options(cmd, o->pipeline, o->max_memory);
    cmd->add_option("--inference", o->inference_name,
                    "How oneDNN's threads share the cores. streams: each thread runs its own single-threaded "
                    "oneDNN stream; parallel: one batch at a time, oneDNN's OpenMP on every thread; auto: times "
                    "the job's first rows both ways and keeps the faster (the summary says which)")
        ->check(CLI::IsMember({"auto", "streams", "parallel"}))
        ->capture_default_str();
    add_observer_options(cmd, o->observers);
    add_output_options(cmd, o->output_to);
    cmd->add_flag("-q,--quiet", o->quiet, "No summary line");
    cmd->callback([&run, o, output, old_kind] {
        if (old_kind->count() > 0) {
            fmt::print(stderr, "npyflow: warning: --output {0} is deprecated: write --output-kind {0} (--output will "
                               "name the output file, as in preprocess)\n",
                       o->output_name);
        }
        if (!o->dry_run && (o->inputs.empty() || output->count() == 0)) {
            throw CLI::ValidationError("score needs INPUT and -o (only --dry-run runs without them)");
        }
        if (!o->reference.empty() && o->output_to.shards) {
            throw CLI::ValidationError("--reference compares one output file; it cannot be used with --shards");
        }
        o->output_as = o->output_name == "argmax" ? output_kind::argmax
                       : o->output_name == "probs" ? output_kind::probs
                                                   : output_kind::logits;
        o->inference = o->inference_name == "parallel" ? inference_mode::parallel
                       : o->inference_name == "streams" ? inference_mode::streams
                                                        : inference_mode::auto_;
        o->pipeline.progress = ::isatty(STDERR_FILENO) != 0 && !o->quiet;
        run = [o] { return run_score(*o); };
    });
}

}  // namespace npyflow::cli
