#include "cli/model_files.hpp"

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_format.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/json_file.hpp"

namespace npyflow::cli {

model_spec read_spec(const std::filesystem::path& path, const weight_source& weights) {
    if (const file_format format = sniff_file(path); format != file_format::json && format != file_format::unknown) {
        throw error(fmt::format("--model {}: is {}; --model takes the npyflow spec (JSON), --weights the arrays",
                                printable_path(path), describe(format)));
    }
    const auto json = read_json_file(path);
    if (json.is_object() && json.contains("class_name") && json.contains("config")) {
        throw error(fmt::format("--model {}: is a Keras model config, not an npyflow spec; make one with npyflow spec "
                                "--from-keras {} -o spec.json",
                                printable_path(path), printable_path(path)));
    }
    return with_context(printable_path(path), [&] { return parse_model_spec(json, weights.implied_layout()); });
}

}  // namespace npyflow::cli
