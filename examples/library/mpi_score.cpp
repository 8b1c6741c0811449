// The scoring job across the ranks of an MPI communicator, in a program that owns MPI: each
// rank scores its share of the rows into the one output; a failure on any rank ends the job
// on every rank, and rank 0 reports it.
//
// usage: mpirun -np 2 mpi_score IMAGES.npy SPEC WEIGHTS OUT.npy
#include <cstdio>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mpi.h>

#include <npyflow/npyflow.hpp>

int main(int argc, char** argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);  // npyflow needs SERIALIZED
    int code = 0;
    {
        npyflow::mpi_ranks ranks(MPI_COMM_WORLD);  // destroyed before MPI_Finalize
        std::optional<std::string> failure;
        try {
            if (argc != 5) throw npyflow::error("usage: mpirun -np N mpi_score IMAGES.npy SPEC WEIGHTS OUT.npy");
            npyflow::score_job job;
            job.inputs = {argv[1]};
            job.model = argv[2];
            job.weights = argv[3];
            job.output = argv[4];
            job.kind = npyflow::output_kind::argmax;
            const auto report = npyflow::run_score_job(job, ranks);
            const auto rows = ranks.gather(static_cast<double>(report.run.pipeline.rows));
            if (ranks.rank() == 0) fmt::print("{} ranks scored {} rows ({})\n", ranks.size(), report.rows, fmt::join(rows, " + "));
        } catch (const npyflow::collective_error& e) {  // every rank has it already: rank 0 says it
            if (ranks.rank() == 0) fmt::print(stderr, "mpi_score: {}\n", e.what());
            code = 1;
        } catch (const npyflow::stopped_by_another_rank&) {  // not this rank's failure: see below
        } catch (const std::exception& e) {
            failure = e.what();
        }
        // The end of the job: every rank learns the first failing rank's message.
        if (code == 0) {
            if (const auto first = ranks.first_failure(failure)) {
                if (ranks.rank() == 0) fmt::print(stderr, "mpi_score: {}\n", *first);
                code = 1;
            }
        }
    }
    MPI_Finalize();
    return code;
}
