#pragma once
// The transforms a spec's "params" may ask for, applied to an array as it is bound: the
// index-th slice along the first axis, a window of the flattened values read as a shape,
// an axis permutation (docs/model-spec.md, "params").

#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/param_binding.hpp"

namespace npyflow {

// A new tensor (its source says what was done: "W[1]", "v[0:1280] as (128, 10)",
// "W.transpose(1, 0)"); throws npyflow::error when the array cannot take the transform.
bound_tensor apply_param_ref(const bound_tensor& t, const param_ref& ref);

}  // namespace npyflow
