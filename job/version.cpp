#include "npyflow/job/version.hpp"

namespace npyflow {

std::string_view version() { return NPYFLOW_VERSION; }

}  // namespace npyflow
