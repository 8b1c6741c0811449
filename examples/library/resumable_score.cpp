// A resumable scoring job: images through a model into scores.npy. Killed or stopped (Ctrl-C)
// midway, the same program run again finishes it from its journal instead of starting over.
//
// usage: resumable_score IMAGES.npy SPEC WEIGHTS OUT.npy
#include <csignal>
#include <cstdio>

#include <fmt/format.h>

#include <npyflow/npyflow.hpp>

std::atomic<bool> stop{false};

int main(int argc, char** argv) try {
    if (argc != 5) return fmt::print(stderr, "usage: resumable_score IMAGES.npy SPEC WEIGHTS OUT.npy\n"), 2;
    std::signal(SIGINT, [](int) { stop = true; });  // the job ends at its next batch, keeping its rows

    npyflow::score_job job;
    job.inputs = {argv[1]};
    job.model = argv[2];
    job.weights = argv[3];
    job.output = argv[4];
    job.kind = npyflow::output_kind::probs;
    job.output_to.resume = true;  // continue an unfinished run of this same job, if there is one

    npyflow::one_process alone;
    const auto report = npyflow::run_score_job(job, alone, stop);
    fmt::print("{} rows scored in {:.3f} s ({} done before), {} with NaN inputs; wrote {}\n",
               report.run.pipeline.rows, report.run.pipeline.seconds, report.rows_before, report.non_finite,
               report.written.string());
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "resumable_score: {}\n", e.what());
    return 1;
}
