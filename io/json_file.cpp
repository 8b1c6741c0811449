#include "npyflow/io/json_file.hpp"

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/small_file.hpp"

namespace npyflow {

nlohmann::json read_json_file(const std::filesystem::path& path, const char* what) {
    const std::string text = read_small_file(path, what);
    const std::string name = printable_path(path);
    if (const auto nul = text.find('\0'); nul != std::string::npos) {
        throw error(fmt::format("{}: not valid JSON: a NUL byte at offset {}", name, nul));
    }
    const auto depth_limit = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (depth > json_max_depth) {
            throw error(fmt::format("{}: not valid JSON here: nested more than {} levels deep", name, json_max_depth));
        }
        return true;
    };
    try {
        return nlohmann::json::parse(text, depth_limit);
    } catch (const nlohmann::json::exception& e) {
        throw error(fmt::format("{}: not valid JSON: {}", name, e.what()));
    }
}

}  // namespace npyflow
