#pragma once
// The one table that maps JSON "op" names to ops. A spec's "preprocess" list:
//   [{"op": "cast", "dtype": "float32"}, {"op": "scale", "factor": 0.0039}, ...]
// Errors name the op and its position: preprocess[2] (normalize): 'std' ...

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "npyflow/ops/op.hpp"

namespace npyflow {

std::vector<op_ptr> parse_ops(const nlohmann::json& list);

// The op names parse_ops knows, for help texts and messages.
std::vector<std::string> known_ops();

}  // namespace npyflow
