#pragma once
// Each subcommand registers its options on the CLI11 app and sets `run` to the function
// that does the work once the command line has parsed. run returns the exit code.

#include <functional>

#include <CLI/CLI.hpp>

namespace npyflow::cli {

using command_runner = std::function<int()>;

void add_inspect_command(CLI::App& app, command_runner& run);
void add_preprocess_command(CLI::App& app, command_runner& run);
void add_score_command(CLI::App& app, command_runner& run);
void add_concat_command(CLI::App& app, command_runner& run);
void add_bench_command(CLI::App& app, command_runner& run);
void add_spec_command(CLI::App& app, command_runner& run);
void add_convert_command(CLI::App& app, command_runner& run);

}  // namespace npyflow::cli
