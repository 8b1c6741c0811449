#include "npyflow/job/run_job.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/partial_file.hpp"

namespace npyflow {

std::filesystem::path trace_path_for(const std::filesystem::path& trace, const rank_group& ranks) {
    auto path = trace;
    if (ranks.distributed() && !path.empty()) {
        path.replace_filename(
            fmt::format("{}.rank{}{}", path.stem().string(), ranks.rank(), path.extension().string()));
    }
    return path;
}

void check_job_paths(job_paths& paths, const std::filesystem::path& output, const output_options& output_to,
                     const std::filesystem::path& trace, rank_group& ranks) {
    resumable_output::list_files(paths, output, output_to, ranks);
    if (!trace.empty()) {
        const auto path = trace_path_for(trace, ranks);
        paths.writes("--trace", path);
        paths.writes("--trace", partial_file::partial_path_for(path), true);
    }
    ranks.agree([&] { paths.check(); });
}

void add_batch_memory(memory_estimate& memory, const pipeline_options& options, const dataset& input,
                      const preprocess_plan& plan, std::uint64_t output_row_bytes) {
    const std::uint64_t rows = std::min<std::uint64_t>(options.batch_rows, std::max<std::uint64_t>(1, input.rows()));
    const std::uint64_t widest = std::max({input.row_bytes(), plan.output().bytes(), output_row_bytes}) * 2;
    memory.add("batches", batches_in_flight(options, input.rows()) + 1,
               rows * (input.row_bytes() + 2 * widest + 2 * output_row_bytes));
}

job_report run_job(const dataset& input, const std::vector<stage>& stages, const batch_sink& sink,
                   pipeline_options options, const std::atomic<bool>& stop, const std::filesystem::path& trace,
                   resumable_output& output, rank_group& ranks) {
    trace_recorder recorder;
    job_report report;
    report.trace_file = trace_path_for(trace, ranks);
    if (!report.trace_file.empty()) options.trace = &recorder;
    options.first_row = output.first_row();
    options.end_row = output.end_row();
    options.should_stop = [&] { return stop.load() || ranks.another_rank_failed(); };
    try {
        report.pipeline = run_pipeline(input, stages, sink, options);
    } catch (const pipeline_stopped& e) {
        const std::string kept = output.abandon();
        if (!stop.load()) throw stopped_by_another_rank(fmt::format("stopped because another rank failed; {}", kept));
        if (ranks.distributed()) throw error(fmt::format("{}; {}", e.what(), kept));
        throw job_stopped(fmt::format("{}; {}", e.what(), kept));
    } catch (const error& e) {
        const std::string kept = output.abandon();
        throw error(fmt::format("{}\n{}", e.what(), kept));
    }
    if (!report.trace_file.empty()) {
        recorder.write(report.trace_file);
        report.trace_events = recorder.events();
    }
    report.flush_seconds = output.commit(options.progress);
    report.early_windows = output.early_windows();
    report.writeback_wait_seconds = output.writeback_wait_seconds();
    return report;
}

}  // namespace npyflow
