#include "cli/json_file.hpp"

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/file_identity.hpp"
#include "io/small_file.hpp"

namespace npyflow::cli {

nlohmann::json read_json_file(const std::filesystem::path& path) {
    const std::string text = read_small_file(path, "JSON spec");
    // nlohmann's parser stops at a NUL byte as if the text ended there, which would accept
    // a spec followed by NUL and anything at all.
    if (const auto nul = text.find('\0'); nul != std::string::npos) {
        throw error(fmt::format("{}: not valid JSON: a NUL byte at offset {}", printable_path(path), nul));
    }
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number out of range (1e400)
        throw error(fmt::format("{}: not valid JSON: {}", printable_path(path), e.what()));
    }
}

}  // namespace npyflow::cli
