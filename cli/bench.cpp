// npyflow bench: where the time of a scoring job goes, measured in one process and one run.
//
//   ceiling   the network alone on batches already in memory, with the pipeline's threading
//   read+pre  reading and preprocessing only (no inference, no output)
//   full      the whole job: read, preprocess, infer, write (npyflow score)
//   serial    the same job one batch at a time: read, then preprocess, then infer (oneDNN's
//             OpenMP on every thread), then write, no overlap
//
// For each combination of --batch, --threads and --prefetch; ratios full/ceiling and full/serial.

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include "cli/commands.hpp"
#include "cli/job_summary.hpp"
#include "cli/launched_ranks.hpp"
#include "npyflow/io/json_file.hpp"
#include "npyflow/job/model.hpp"
#include "npyflow/job/stages.hpp"
#include "npyflow/job/thread_budget.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/npy_writer.hpp"
#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/network.hpp"
#include "npyflow/nn/param_binding.hpp"
#include "npyflow/nn/weight_source.hpp"
#include "npyflow/ops/op_registry.hpp"
#include "npyflow/ops/preprocess_plan.hpp"
#include "npyflow/pipeline/dataset.hpp"
#include "npyflow/pipeline/pipeline.hpp"

namespace npyflow::cli {
namespace {

using clock_type = std::chrono::steady_clock;

struct bench_options {
    std::vector<std::filesystem::path> inputs;
    std::filesystem::path model, weights;
    std::string weights_key;
    std::filesystem::path scratch = std::filesystem::temp_directory_path();
    std::vector<std::uint64_t> batches{1024};
    std::vector<unsigned> threads{0};
    std::vector<unsigned> prefetch{0};
    bool json = false;
    std::string batch_list, thread_list, prefetch_list;  // as typed, parsed after the command line
};

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

struct job {
    const dataset& input;
    const preprocess_plan& plan;
    const model_spec& spec;
    const weight_source& weights;
    std::filesystem::path output;
};

// The network alone: every row, batch by batch, from preprocessed rows held in memory.
double measure_ceiling(const job& j, std::uint64_t batch, unsigned threads) {
    const network net(bind_parameters(j.spec, j.weights, false));
    std::vector<float> in(batch * net.input_values());
    {
        std::vector<std::byte> raw;
        preprocess_plan::scratch scratch;
        const auto rows = std::min<std::uint64_t>(batch, j.input.rows());
        const auto pre = j.plan.run(j.input.read_rows(0, rows, raw), rows, scratch);
        for (std::uint64_t r = 0; r < batch; ++r) {  // repeat the real rows to fill the batch
            std::memcpy(in.data() + r * net.input_values(), pre.data() + (r % rows) * net.input_values() * 4,
                        net.input_values() * 4);
        }
    }
    const std::uint64_t count = (j.input.rows() + batch - 1) / batch;
    tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, threads);
    tbb::task_arena arena(static_cast<int>(threads));
    const auto start = clock_type::now();
    arena.execute([&] {
        tbb::parallel_for(std::uint64_t{0}, count, [&](std::uint64_t i) {
            thread_local std::vector<float> out;
            const std::uint64_t rows = std::min(batch, j.input.rows() - i * batch);
            out.resize(rows * net.output_values());
            net.run(std::span(in).first(rows * net.input_values()), rows, out);
        });
    });
    return seconds_since(start);
}

double measure_read_preprocess(const job& j, pipeline_options options) {
    return run_pipeline(j.input, {preprocess_stage(j.plan)}, [](const batch&) {}, options).seconds;
}

// As score runs it: the same stages, into an output file.
double measure_full(const job& j, pipeline_options options, const network& net) {
    npy_writer writer(j.output, dtype::float32, {j.input.rows(), net.output_values()});
    const double s = run_pipeline(j.input, {preprocess_stage(j.plan), infer_stage(net, output_kind::logits)},
                                  [&](const batch& b) { writer.write_rows(b.first_row, b.data); }, options)
                         .seconds;
    return s;  // the writer is dropped uncommitted: the benchmark's output is not kept
}

double measure_serial(const job& j, std::uint64_t batch, unsigned threads) {
    const network net(bind_parameters(j.spec, j.weights, false), static_cast<int>(threads));
    npy_writer writer(j.output, dtype::float32, {j.input.rows(), net.output_values()});
    std::vector<std::byte> raw;
    preprocess_plan::scratch scratch;
    std::vector<float> out;
    const auto start = clock_type::now();
    for (std::uint64_t first = 0; first < j.input.rows(); first += batch) {
        const std::uint64_t rows = std::min(batch, j.input.rows() - first);
        const auto pre = j.plan.run(j.input.read_rows(first, rows, raw), rows, scratch);
        out.resize(rows * net.output_values());
        net.run({reinterpret_cast<const float*>(pre.data()), rows * net.input_values()}, rows, out);
        writer.write_rows(first, std::as_bytes(std::span(out)));
    }
    return seconds_since(start);
}

int run_bench(const bench_options& o) {
    const weight_source weights(o.weights, o.weights_key);
    const model_spec spec = read_model_spec(o.model, weights);
    const dataset input(o.inputs);
    if (input.rows() == 0) {
        throw error(fmt::format("{}: has no rows; a benchmark needs at least one", printable_path(o.inputs.front())));
    }
    const preprocess_plan plan = with_context(o.model.string(), [&] {
        return preprocess_plan(parse_ops(spec.preprocess), {input.type(), input.row_shape()});
    });
    const network streams(bind_parameters(spec, weights, false));
    // Named by the process, so that two benchmarks sharing a scratch directory do not collide.
    const job j{input, plan, spec, weights, o.scratch / fmt::format("npyflow-bench-output-{}.npy", ::getpid())};
    const double rows = static_cast<double>(input.rows());
    const double in_mb = rows * static_cast<double>(input.row_bytes()) / 1e6;
    const double gflop = streams.flops_per_sample() * rows / 1e9;

    auto results = nlohmann::ordered_json::array();
    if (!o.json) {
        fmt::print("{} rows of {} {}, model {} ({:.2f} MFLOP/row): {}\n", input.rows(), name(input.type()),
                   format_shape(input.row_shape()), o.model.string(), streams.flops_per_sample() / 1e6, streams.describe());
        fmt::print("{:>6} {:>7} {:>8} | {:>22} {:>22} {:>22} {:>22} | {:>12} {:>11}\n", "batch", "threads", "prefetch",
                   "ceiling rows/s GFLOP/s", "read+pre rows/s MB/s", "full rows/s GFLOP/s", "serial rows/s GFLOP/s",
                   "full/ceiling", "full/serial");
    }
    for (const auto batch : o.batches) {
        for (const auto t_option : o.threads) {
            const unsigned t = settle_threads(t_option, launched_ranks(), print_warning);
            for (const auto k : o.prefetch) {
                pipeline_options p;
                p.batch_rows = batch;
                p.threads = t;
                p.prefetch = k;
                const double ceiling = measure_ceiling(j, batch, t);
                const double read_pre = measure_read_preprocess(j, p);
                const double full = measure_full(j, p, streams);
                const double serial = measure_serial(j, batch, t);
                const unsigned prefetch = k > 0 ? k : 2 * t;
                results.push_back({{"batch", batch}, {"threads", t}, {"prefetch", prefetch},
                                   {"ceiling", {{"seconds", ceiling}, {"rows_per_s", rows / ceiling}, {"gflop_per_s", gflop / ceiling}}},
                                   {"read_preprocess", {{"seconds", read_pre}, {"rows_per_s", rows / read_pre}, {"mb_per_s", in_mb / read_pre}}},
                                   {"full", {{"seconds", full}, {"rows_per_s", rows / full}, {"gflop_per_s", gflop / full}, {"mb_per_s", in_mb / full}}},
                                   {"serial", {{"seconds", serial}, {"rows_per_s", rows / serial}, {"gflop_per_s", gflop / serial}}},
                                   {"full_over_ceiling", ceiling / full}, {"full_over_serial", serial / full}});
                if (!o.json) {
                    fmt::print("{:>6} {:>7} {:>8} | {:>13.0f} {:>8.1f} {:>13.0f} {:>8.0f} {:>13.0f} {:>8.1f} {:>13.0f} {:>8.1f} | {:>12.2f} {:>11.2f}\n",
                               batch, t, prefetch, rows / ceiling, gflop / ceiling, rows / read_pre, in_mb / read_pre,
                               rows / full, gflop / full, rows / serial, gflop / serial, ceiling / full, serial / full);
                }
            }
        }
    }
    if (o.json) {
        fmt::print("{}\n", nlohmann::ordered_json{{"rows", input.rows()}, {"model", o.model.string()},
                                                  {"mflop_per_row", streams.flops_per_sample() / 1e6},
                                                  {"network", streams.describe()}, {"results", results}}
                               .dump(1));
    }
    return 0;
}

template <typename T>
std::vector<T> parse_list(const std::string& text, const char* what) {
    std::vector<T> values;
    std::size_t at = 0;
    while (at <= text.size()) {
        const auto end = std::min(text.find(',', at), text.size());
        try {
            values.push_back(static_cast<T>(std::stoull(text.substr(at, end - at))));
        } catch (const std::exception&) {
            throw CLI::ValidationError(what, "expects a comma-separated list of integers, got '" + text + "'");
        }
        at = end + 1;
    }
    return values;
}

}  // namespace

void add_bench_command(CLI::App& app, command_runner& run) {
    auto o = std::make_shared<bench_options>();
    auto* cmd = app.add_subcommand(
        "bench", "Measure a scoring job in one run: the network alone on in-memory batches (ceiling), read + "
                 "preprocess only, the full pipeline, and the same job done serially; sweeps batch, threads, prefetch");
    cmd->add_option("INPUT", o->inputs, "Input .npy files (page-cache them first for repeatable figures)")->required();
    cmd->add_option("--model", o->model, "Model spec JSON")->required()->check(CLI::ExistingFile);
    cmd->add_option("--weights", o->weights, "Weights, in any form score takes (docs/weights.md)")->required()->check(CLI::ExistingPath);
    cmd->add_option("--weights-key", o->weights_key, "The key of the weights in a checkpoint's dict, as for score");
    cmd->add_option("--batch", o->batch_list, "Rows per batch; a comma-separated list sweeps (default 1024)");
    cmd->add_option("--threads", o->thread_list, "Threads; a list sweeps (default: every core)");
    cmd->add_option("--prefetch", o->prefetch_list, "Batches in flight; a list sweeps (default: twice the threads)");
    cmd->add_option("--scratch", o->scratch, "Directory for the outputs the full and serial runs write (not kept)");
    cmd->add_flag("--json", o->json, "Print the figures as JSON (for bench/plot.py)");
    cmd->callback([&run, o] {
        if (!o->batch_list.empty()) o->batches = parse_list<std::uint64_t>(o->batch_list, "--batch");
        if (!o->thread_list.empty()) o->threads = parse_list<unsigned>(o->thread_list, "--threads");
        if (!o->prefetch_list.empty()) o->prefetch = parse_list<unsigned>(o->prefetch_list, "--prefetch");
        for (auto b : o->batches) {
            if (b == 0) throw CLI::ValidationError("--batch", "must be at least 1");
        }
        run = [o] {
            launched_ranks().require_one_process("bench");
            return run_bench(*o);
        };
    });
}

}  // namespace npyflow::cli
