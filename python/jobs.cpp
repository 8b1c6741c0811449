// npyflow.score and npyflow.preprocess: the CLI's resumable jobs (job/score_job.hpp,
// job/preprocess_job.hpp) from Python, returning their report as a dict. Ctrl-C stops a job
// cleanly: the rows written are kept for resume=True, and KeyboardInterrupt says so.

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "interruptible.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/job/peak_memory.hpp"
#include "npyflow/job/preprocess_job.hpp"
#include "npyflow/job/rank_group.hpp"
#include "npyflow/job/score_job.hpp"

namespace npyflow::python {
namespace {

// Warnings arrive on the job's thread; Python hears them once the job has ended.
class warnings_box {
public:
    std::function<void(const std::string&)> sink() {
        return [this](const std::string& w) {
            const std::lock_guard lock(mutex_);
            all_.push_back(w);
        };
    }
    py::list emit() {
        py::list out;
        for (const auto& w : all_) {
            warn(w);
            out.append(text(w));
        }
        return out;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> all_;
};

// What the pipeline's options and the output's are made of in both jobs.
struct common_args {
    std::int64_t batch = 1024;
    std::optional<std::int64_t> threads, prefetch, max_memory;
    double checkpoint_every = 5;
    bool resume = false, progress = false;
    py::object trace = py::none();

    pipeline_options pipeline() const {
        pipeline_options p;
        p.batch_rows = count_of(batch, "batch", 0, 1);
        p.threads = static_cast<unsigned>(std::min<std::uint64_t>(count_of(threads, "threads", 0, 1), 1u << 16));
        p.prefetch = static_cast<unsigned>(std::min<std::uint64_t>(count_of(prefetch, "prefetch", 0, 1), 1u << 16));
        p.progress = progress;
        return p;
    }
    output_options output() const {
        if (!(checkpoint_every >= 0.001 && checkpoint_every <= 86400)) {  // the CLI's --checkpoint-every range
            throw error(fmt::format("checkpoint_every must be a number of seconds from 0.001 to 86400, not {}",
                                    checkpoint_every));
        }
        return {resume, checkpoint_every, false};
    }
    // Into either job: its pipeline, output, memory limit, trace, and where its warnings go.
    template <typename Job>
    void apply_to(Job& job, warnings_box& warnings) const {
        job.pipeline = pipeline();
        job.output_to = output();
        job.max_memory = count_of(max_memory, "max_memory", 0, 1);
        if (!trace.is_none()) job.trace = path_of(trace, "trace");
        job.warn = warnings.sink();
    }
};

py::tuple shape_tuple(const std::vector<std::uint64_t>& shape) {
    py::tuple t(shape.size());
    for (std::size_t k = 0; k < shape.size(); ++k) t[k] = shape[k];
    return t;
}

// The figures both jobs report.
py::dict run_figures(bool already_complete, const job_report& run, std::uint64_t rows,
                     const std::filesystem::path& written, const std::vector<std::uint64_t>& output_shape) {
    py::dict d;
    d["output"] = text(written.string());  // the path itself, not a display form
    d["output_shape"] = shape_tuple(output_shape);
    d["already_complete"] = already_complete;
    d["dataset_rows"] = rows;
    d["rows"] = run.pipeline.rows;  // this run's (a resumed job's are fewer)
    d["seconds"] = run.pipeline.seconds + run.flush_seconds;
    d["rows_per_second"] = run.pipeline.seconds > 0 ? static_cast<double>(run.pipeline.rows) / d["seconds"].cast<double>() : 0.0;
    d["flush_seconds"] = run.flush_seconds;
    d["threads"] = run.pipeline.threads;
    d["prefetch"] = run.pipeline.prefetch;
    d["batches"] = run.pipeline.batches;
    d["peak_rss_bytes"] = peak_resident_bytes();
    return d;
}

py::dict score(const py::object& inputs, const py::object& output, const py::object& model, const py::object& weights,
               const std::string& output_kind, const py::object& labels,
               const std::optional<std::string>& weights_key, bool strict, const std::string& inference,
               const common_args& args) {
    score_job job;
    job.inputs = paths_of(inputs, "inputs");
    job.output = path_of(output, "output");
    job.model = path_of(model, "model");
    job.weights = path_of(weights, "weights");
    job.weights_key = weights_key.value_or("");
    if (!labels.is_none()) job.labels = path_of(labels, "labels");
    job.kind = parse_output_kind(output_kind);
    if (inference != "auto" && inference != "streams" && inference != "parallel") {
        throw error(fmt::format("inference must be \"auto\", \"streams\" or \"parallel\", not \"{}\"", inference));
    }
    job.inference = inference == "parallel" ? inference_mode::parallel
                    : inference == "streams" ? inference_mode::streams
                                             : inference_mode::auto_;
    job.strict = strict;
    warnings_box warnings;
    args.apply_to(job, warnings);

    const score_report r = run_interruptibly([&](const std::atomic<bool>& stop) {
        one_process alone;
        return run_score_job(job, alone, stop);
    });
    py::dict d = run_figures(r.already_complete, r.run, r.rows, r.written, r.output_shape);
    d["correct"] = r.correct ? py::object(py::int_(*r.correct)) : py::object(py::none());
    d["accuracy"] = r.correct && r.rows ? py::object(py::float_(static_cast<double>(*r.correct) / static_cast<double>(r.rows)))
                                        : py::object(py::none());
    d["non_finite_rows"] = r.non_finite;
    d["inference"] = text(r.inference);
    d["network"] = text(r.network_text);
    d["preprocess"] = text(r.preprocess_text);
    d["gflops"] = r.flops_per_sample * static_cast<double>(r.run.pipeline.rows) / 1e9 /
                  std::max(d["seconds"].cast<double>(), 1e-9);
    d["warnings"] = warnings.emit();
    return d;
}

py::dict preprocess(const py::object& inputs, const py::object& output, const py::object& spec,
                    const common_args& args) {
    preprocess_job job;
    job.inputs = paths_of(inputs, "inputs");
    job.output = path_of(output, "output");
    if (!spec.is_none()) job.spec = path_of(spec, "spec");
    warnings_box warnings;
    args.apply_to(job, warnings);

    const preprocess_report r = run_interruptibly([&](const std::atomic<bool>& stop) {
        one_process alone;
        return run_preprocess_job(job, alone, stop);
    });
    py::dict d = run_figures(r.already_complete, r.run, r.rows, r.written, r.output_shape);
    d["preprocess"] = text(r.preprocess_text);
    d["warnings"] = warnings.emit();
    return d;
}

}  // namespace

void bind_jobs(py::module_& m) {
    const auto common = [](bool resume, std::int64_t batch, std::optional<std::int64_t> threads,
                           std::optional<std::int64_t> prefetch, std::optional<std::int64_t> max_memory,
                           double checkpoint_every, bool progress, py::object trace) {
        return common_args{batch, threads, prefetch, max_memory, checkpoint_every, resume, progress, std::move(trace)};
    };
    m.def(
        "score",
        [common](const py::object& inputs, const py::object& output, const py::object& model, const py::object& weights,
                 bool resume, const std::string& output_kind, const py::object& labels,
                 const std::optional<std::string>& weights_key, bool strict, const std::string& inference,
                 std::int64_t batch, std::optional<std::int64_t> threads, std::optional<std::int64_t> prefetch,
                 std::optional<std::int64_t> max_memory, double checkpoint_every, bool progress, py::object trace) {
            return score(inputs, output, model, weights, output_kind, labels, weights_key, strict, inference,
                         common(resume, batch, threads, prefetch, max_memory, checkpoint_every, progress, std::move(trace)));
        },
        py::arg("inputs"), py::arg("output"), py::arg("model"), py::arg("weights"), py::arg("resume") = false,
        py::kw_only(), py::arg("output_kind") = "logits", py::arg("labels") = py::none(),
        py::arg("weights_key") = py::none(), py::arg("strict") = false, py::arg("inference") = "auto",
        py::arg("batch") = 1024, py::arg("threads") = py::none(), py::arg("prefetch") = py::none(),
        py::arg("max_memory") = py::none(), py::arg("checkpoint_every") = 5.0, py::arg("progress") = false,
        py::arg("trace") = py::none(),
        R"(`npyflow score`: the rows of the .npy inputs through the model spec's preprocess ops and network
into the .npy `output` (written to OUT.partial and renamed when complete), in input order. Returns the
report: rows, seconds, rows_per_second, peak_rss_bytes, accuracy and correct (with labels), ...
A stopped or failed job keeps its rows; resume=True finishes it. Ctrl-C stops it cleanly.)");
    m.def(
        "preprocess",
        [common](const py::object& inputs, const py::object& output, const py::object& spec, bool resume,
                 std::int64_t batch, std::optional<std::int64_t> threads, std::optional<std::int64_t> prefetch,
                 std::optional<std::int64_t> max_memory, double checkpoint_every, bool progress, py::object trace) {
            return preprocess(inputs, output, spec,
                              common(resume, batch, threads, prefetch, max_memory, checkpoint_every, progress, std::move(trace)));
        },
        py::arg("inputs"), py::arg("output"), py::arg("spec") = py::none(), py::arg("resume") = false, py::kw_only(),
        py::arg("batch") = 1024, py::arg("threads") = py::none(), py::arg("prefetch") = py::none(),
        py::arg("max_memory") = py::none(), py::arg("checkpoint_every") = 5.0, py::arg("progress") = false,
        py::arg("trace") = py::none(),
        R"(`npyflow preprocess`: the rows of the .npy inputs through the spec's "preprocess" ops into the .npy
`output`, in input order (no spec: the inputs concatenated). Returns the report as score does.)");
}

}  // namespace npyflow::python
