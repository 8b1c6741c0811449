#include "npyflow/job/peak_memory.hpp"

#include <fstream>
#include <string>

namespace npyflow {

std::uint64_t peak_resident_bytes() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // given in kB
    }
    return 0;
}

}  // namespace npyflow
