#pragma once
// A model's summary, as Keras's model.summary(): one line per layer (type, input and output
// shapes, parameters), each array it binds with where it came from (name, shape, the
// transform applied), and the totals. score --dry-run prints it; npyflow::model keeps it.

#include <cstdint>
#include <string>

#include "npyflow/nn/network.hpp"
#include "npyflow/nn/param_binding.hpp"

namespace npyflow {

class model_summary {
public:
    // Taken from the bound model before the network takes its arrays.
    explicit model_summary(const bound_model& model);
    // The layers, then the totals with how the network runs them.
    std::string text(const network& net) const;

private:
    std::string layers_;
    std::size_t layer_count_ = 0;
    std::uint64_t parameters_ = 0;
};

}  // namespace npyflow
