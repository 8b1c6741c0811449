#pragma once
// Reads a small JSON file (a spec, a journal) as read_small_file does, with errors that name
// the file: not valid JSON, a number out of range (1e400), a NUL byte (nlohmann's parser
// would stop there and accept whatever follows), nesting deeper than any spec needs (which
// would overflow the stack of the code that walks it).

#include <filesystem>

#include <nlohmann/json.hpp>

namespace npyflow {

inline constexpr int json_max_depth = 64;

// `what` names the kind of file in messages: "JSON spec", "journal".
nlohmann::json read_json_file(const std::filesystem::path& path, const char* what = "JSON spec");

}  // namespace npyflow
