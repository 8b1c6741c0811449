#include "cli/launched_ranks.hpp"

#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#ifdef NPYFLOW_HAVE_MPI
#include "npyflow/job/mpi_ranks.hpp"
#endif

namespace npyflow::cli {
namespace {

// What the launcher tells a process it starts as one of several ranks.
int ranks_launched() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
        if (const char* value = std::getenv(name)) return std::atoi(value);
    }
    return std::getenv("PMIX_RANK") ? 2 : 1;  // some launchers give only the rank
}

#ifdef NPYFLOW_HAVE_MPI
// MPI for the life of the process; the rank group is destroyed before MPI_Finalize.
struct mpi_world {
    std::unique_ptr<mpi_ranks> ranks;
    mpi_world() {
        int provided = 0;
        // Serialized: MPI is called from one thread at a time (the pipeline's source polls it).
        MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
        if (provided < MPI_THREAD_SERIALIZED) throw error("MPI does not provide MPI_THREAD_SERIALIZED");
        ranks = std::make_unique<mpi_ranks>(MPI_COMM_WORLD);
    }
    ~mpi_world() {
        ranks.reset();
        MPI_Finalize();
    }
};
#endif

}  // namespace

rank_group& launched_ranks() {
    static one_process alone;
    const int ranks = ranks_launched();
    if (ranks <= 1) return alone;
#ifdef NPYFLOW_HAVE_MPI
    static mpi_world world;
    return *world.ranks;
#else
    throw error(fmt::format("started by mpirun as one of {} ranks, but this npyflow was built without MPI, so every "
                            "rank would do the whole job; install libopenmpi-dev and rebuild, or run it without mpirun",
                            ranks));
#endif
}

}  // namespace npyflow::cli
