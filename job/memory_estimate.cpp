#include "npyflow/job/memory_estimate.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {
namespace {

constexpr std::uint64_t unknown = std::numeric_limits<std::uint64_t>::max();

std::uint64_t read_number(const std::string& path) {
    std::ifstream in(path);
    std::string text;
    if (!(in >> text) || text == "max") return unknown;
    try {
        return std::stoull(text);
    } catch (const std::exception&) {
        return unknown;
    }
}

std::uint64_t mem_available() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    std::uint64_t kb = 0;
    std::string unit;
    while (in >> key >> kb >> unit) {
        if (key == "MemAvailable:") return kb * 1024;
    }
    return unknown;
}

// This process's cgroup's limit less its usage (cgroup v2, then v1).
std::uint64_t cgroup_room() {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("0::", 0) == 0) {
            const std::string dir = "/sys/fs/cgroup" + line.substr(3);
            const auto limit = read_number(dir + "/memory.max");
            const auto used = read_number(dir + "/memory.current");
            if (limit != unknown) return used != unknown && used < limit ? limit - used : limit;
        }
    }
    const auto limit = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    const auto used = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    if (limit == unknown || limit >= (std::uint64_t{1} << 60)) return unknown;  // v1's "no limit" is huge
    return used != unknown && used < limit ? limit - used : limit;
}

// a * b, saturating rather than wrapping.
std::uint64_t times(std::uint64_t a, std::uint64_t b) {
    return b != 0 && a > unknown / b ? unknown : a * b;
}

}  // namespace

std::uint64_t available_memory() {
    const auto room = std::min(mem_available(), cgroup_room());
    return room == unknown ? 0 : room;
}

std::string format_bytes(double bytes) {
    if (bytes >= 1e12) return fmt::format("{:.1f} TB", bytes / 1e12);
    if (bytes >= 1e9) return fmt::format("{:.1f} GB", bytes / 1e9);
    if (bytes >= 1e6) return fmt::format("{:.0f} MB", bytes / 1e6);
    return fmt::format("{:.0f} KB", std::max(1.0, bytes / 1e3));
}

void memory_estimate::add(std::string what, std::uint64_t count, std::uint64_t bytes_each) {
    parts_.push_back({std::move(what), count, bytes_each});
}

std::uint64_t memory_estimate::total() const {
    std::uint64_t sum = 0;
    for (const auto& p : parts_) {
        const auto bytes = times(p.count, p.bytes_each);
        sum = bytes > unknown - sum ? unknown : sum + bytes;
    }
    return sum;
}

void memory_estimate::check(std::uint64_t max_memory, int ranks_here, const std::string& advice) const {
    std::uint64_t limit = max_memory;
    std::string source = "--max-memory";
    if (limit == 0) {
        limit = available_memory() / static_cast<std::uint64_t>(std::max(1, ranks_here));
        if (limit == 0) return;  // nothing to compare with
        source = ranks_here > 1 ? fmt::format("this rank's share of the memory available") : "the memory available";
    }
    const std::uint64_t need = total();
    if (need <= limit) return;
    std::vector<std::string> parts;
    for (const auto& p : parts_) {
        parts.push_back(p.count == 1 ? fmt::format("{} {}", p.what, format_bytes(double(p.bytes_each)))
                                     : fmt::format("{} {} x {}", p.what, p.count, format_bytes(double(p.bytes_each))));
    }
    throw error(fmt::format("the job would need about {} of memory ({}), more than {} ({}); {}",
                            format_bytes(double(need)), fmt::join(parts, ", "), source, format_bytes(double(limit)),
                            advice));
}

}  // namespace npyflow
