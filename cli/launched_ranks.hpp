#pragma once
// The ranks of an npyflow command: the MPI world when mpirun started it, else this process.
// The command-line program owns MPI: MPI_Init_thread on first use, MPI_Finalize at exit
// (a program built on the library owns it instead and hands npyflow a communicator,
// job/mpi_ranks.hpp).

#include "npyflow/job/rank_group.hpp"

namespace npyflow::cli {

// Throws when started by mpirun without MPI support built in (every rank would do the whole job).
rank_group& launched_ranks();

}  // namespace npyflow::cli
