#include "npyflow/job/preprocess_job.hpp"

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/json_file.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/io/small_file.hpp"
#include "npyflow/job/job_fingerprint.hpp"
#include "npyflow/job/stages.hpp"
#include "npyflow/job/thread_budget.hpp"
#include "npyflow/ops/op_registry.hpp"
#include "npyflow/pipeline/dataset.hpp"

namespace npyflow {

nlohmann::json read_preprocess_ops(const std::filesystem::path& spec) {
    const auto json = read_json_file(spec);
    if (!json.is_object() || !json.contains("preprocess")) {
        throw error(fmt::format("{}: needs a \"preprocess\" list of ops", printable_path(spec)));
    }
    return json["preprocess"];
}

preprocess_report run_preprocess_job(const preprocess_job& job, rank_group& ranks, const std::atomic<bool>& stop) {
    job_paths paths;
    for (const auto& in : job.inputs) paths.reads("input", in);
    if (!job.spec.empty()) paths.reads("--spec", job.spec);
    check_job_paths(paths, job.output, job.output_to, job.trace, ranks);
    pipeline_options pipeline = job.pipeline;
    pipeline.threads = settle_threads(pipeline.threads, ranks, job.warn);
    if (!job.spec.empty()) check_small_file(job.spec, "JSON spec");  // before describing it: a device, a pipe
    // Described before anything is read.
    job_fingerprint fingerprint(job.command);
    fingerprint.add_inputs(job.inputs);
    if (!job.spec.empty()) fingerprint.add_file("spec", job.spec);
    nlohmann::json ops = nlohmann::json::array();
    if (!job.spec.empty()) ops = read_preprocess_ops(job.spec);
    const dataset input(job.inputs);
    const preprocess_plan plan = with_context(printable_path(job.spec), [&] {
        return preprocess_plan(parse_ops(ops), {input.type(), input.row_shape()});
    });

    preprocess_report report;
    report.rows = input.rows();
    report.input_row_bytes = input.row_bytes();
    report.output_sample = plan.output();
    report.preprocess_text = plan.describe();
    report.output_shape = {input.rows()};
    report.output_shape.insert(report.output_shape.end(), plan.output().shape.begin(), plan.output().shape.end());
    with_context(printable_path(job.output), [&] { check_numpy_size(plan.output().type, report.output_shape); });
    throw_if_changed_while_read(fingerprint);

    memory_estimate memory;
    add_batch_memory(memory, pipeline, input, plan);
    ranks.agree([&] { memory.check(job.max_memory, ranks.local_size(), "lower --batch or --prefetch"); });

    resumable_output output(job.output, plan.output().type, report.output_shape, fingerprint, job.output_to, ranks);
    report.written = output.file();
    if (output.already_complete()) {
        report.already_complete = true;
        return report;
    }
    const auto sink = [&](const batch& b) { output.write(b); };
    report.run = run_job(input, {preprocess_stage(plan)}, sink, pipeline, stop, job.trace, output, ranks);
    return report;
}

}  // namespace npyflow
