#pragma once

#include <string_view>

namespace npyflow {

// The library's version, "major.minor.patch" (CMake's project version): the one linked, which
// may differ from the headers' when a program is run against another build.
std::string_view version();

}  // namespace npyflow
