#pragma once
// npyflow's public API in one header (docs/library.md): what a program built on the library
// uses to read and write NumPy files, build a pipeline of the library's stages and its own,
// load a model (spec + weights) and predict, and run a resumable job, optionally across the
// ranks of an MPI communicator. Link npyflow::npyflow (find_package(npyflow)).

// Files: .npy/.npz read (memory-mapped) and written (a temporary renamed when complete).
#include "npyflow/io/dtype.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/npy_writer.hpp"
#include "npyflow/io/npz_archive.hpp"
#include "npyflow/io/npz_writer.hpp"
// Preprocessing ops and their fused plan.
#include "npyflow/ops/op_registry.hpp"
#include "npyflow/ops/preprocess_plan.hpp"
// The streaming pipeline: a dataset of .npy files, stages, batches in input order.
#include "npyflow/pipeline/batch.hpp"
#include "npyflow/pipeline/dataset.hpp"
#include "npyflow/pipeline/pipeline.hpp"
// Networks: the spec, the weights in any form, their checked binding, oneDNN's network.
#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/network.hpp"
#include "npyflow/nn/param_binding.hpp"
#include "npyflow/nn/weight_source.hpp"
// Jobs: a model with predict(), the library's stages, resumable jobs, ranks.
#include "npyflow/job/accuracy_tally.hpp"
#include "npyflow/job/model.hpp"
#include "npyflow/job/output_head.hpp"
#include "npyflow/job/preprocess_job.hpp"
#include "npyflow/job/rank_group.hpp"
#include "npyflow/job/resumable_output.hpp"
#include "npyflow/job/run_job.hpp"
#include "npyflow/job/score_job.hpp"
#include "npyflow/job/stages.hpp"
#include "npyflow/job/version.hpp"
#ifdef NPYFLOW_HAVE_MPI
#include "npyflow/job/mpi_ranks.hpp"
#endif
