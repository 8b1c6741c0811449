#pragma once
// The spec and the weights a scoring command is given, read the same way by score and bench:
// the weights first, since their format may say the layout a spec leaves out; and a file given
// in the wrong place named by what it is.

#include <filesystem>

#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/weight_source.hpp"

namespace npyflow::cli {

// The spec at `path` (JSON), in the layout the weights' format implies where it states none.
// Refuses a weights file or a Keras model config given as the spec, saying what it is.
model_spec read_spec(const std::filesystem::path& path, const weight_source& weights);

}  // namespace npyflow::cli
