#pragma once
// score --dry-run's summary, as Keras's model.summary(): one line per layer (type, input and
// output shapes, parameters), each array it binds with where it came from (name, shape, the
// transform applied), and the totals.

#include <string>

#include "npyflow/nn/network.hpp"
#include "npyflow/nn/param_binding.hpp"

namespace npyflow::cli {

std::string format_model_summary(const bound_model& model, const network& net);

}  // namespace npyflow::cli
