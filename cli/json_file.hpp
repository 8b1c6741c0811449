#pragma once
// Reads a JSON file (a spec), with errors that name the file and the line.

#include <filesystem>

#include <nlohmann/json.hpp>

namespace npyflow::cli {

nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace npyflow::cli
