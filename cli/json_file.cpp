#include "cli/json_file.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "io/error.hpp"

namespace npyflow::cli {

nlohmann::json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw error(fmt::format("{}: cannot open", path.string()));
    std::stringstream text;
    text << in.rdbuf();
    try {
        return nlohmann::json::parse(text.str());
    } catch (const nlohmann::json::parse_error& e) {
        throw error(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
    }
}

}  // namespace npyflow::cli
