#pragma once
// An lstm layer's lowering (recurrent.cpp parses and binds it).

#include <dnnl.hpp>

#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {

// Adds the steps that run the lstm node `n` over its (rows, T, in) input and returns its output
// sequence, (rows, T, hidden * directions) in the plain view.
dnnl::memory lstm_sequence(lowering_context& ctx, const node& n);

}  // namespace npyflow
