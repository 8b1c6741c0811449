// npyflow command-line entry point. Exit codes: 0 ok, 1 bad data or a failed job,
// 2 a usage error. Errors are one line on stderr starting with "npyflow: error:".

#include <csignal>
#include <cstdio>
#include <exception>
#include <string_view>

#include <fmt/format.h>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"npyflow: stream NumPy .npy/.npz files through preprocessing and oneDNN networks.\n"
                 "Run 'npyflow COMMAND --help' for a command's options."};
    app.name("npyflow");
    app.require_subcommand(1);
    app.set_version_flag("--version", "npyflow 0.1.0");

    // Past a file-size limit (ulimit -f), a write should fail with EFBIG and a message, not
    // kill the process with SIGXFSZ: the job can then keep its journal and be resumed.
    std::signal(SIGXFSZ, SIG_IGN);

    npyflow::cli::command_runner run;
    npyflow::cli::add_inspect_command(app, run);
    npyflow::cli::add_preprocess_command(app, run);
    npyflow::cli::add_score_command(app, run);
    npyflow::cli::add_bench_command(app, run);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        fmt::print(stderr, "npyflow: error: {}\nRun 'npyflow --help' for usage.\n", e.what());
        return 2;
    }

    try {
        return run();
    } catch (const std::exception& e) {
        // One line per problem: the weight binder reports every problem it finds at once.
        std::string_view rest = e.what();
        do {
            const auto end = rest.find('\n');
            fmt::print(stderr, "npyflow: error: {}\n", rest.substr(0, end));
            rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        } while (!rest.empty());
        return 1;
    }
}
