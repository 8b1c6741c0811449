// npyflow command-line entry point. Exit codes: 0 ok, 1 bad data or a failed job,
// 2 a usage error. Errors are one line on stderr starting with "npyflow: error:".
// Under mpirun, every rank runs the command on its share of the rows; a failure on any rank
// is reported once, by rank 0, with the failing rank's message (job/rank_group.hpp).

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "cli/launched_ranks.hpp"
#include "npyflow/job/version.hpp"

namespace {

// One line per problem: the weight binder reports every problem it finds at once.
void print_error(std::string_view message) {
    do {
        const auto end = message.find('\n');
        fmt::print(stderr, "npyflow: error: {}\n", message.substr(0, end));
        message = end == std::string_view::npos ? std::string_view{} : message.substr(end + 1);
    } while (!message.empty());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"npyflow: stream NumPy .npy/.npz files through preprocessing and oneDNN networks.\n"
                 "Run 'npyflow COMMAND --help' for a command's options."};
    app.name("npyflow");
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("npyflow ") + std::string(npyflow::version()));

    // Past a file-size limit (ulimit -f), a write should fail with EFBIG and a message, not
    // kill the process with SIGXFSZ: the job can then keep its journal and be resumed.
    std::signal(SIGXFSZ, SIG_IGN);

    npyflow::cli::command_runner run;
    npyflow::cli::add_inspect_command(app, run);
    npyflow::cli::add_preprocess_command(app, run);
    npyflow::cli::add_score_command(app, run);
    npyflow::cli::add_concat_command(app, run);
    npyflow::cli::add_bench_command(app, run);
    npyflow::cli::add_spec_command(app, run);
    npyflow::cli::add_convert_command(app, run);

    // CLI11 would say only "A subcommand is required" for a misspelt command.
    if (argc > 1 && argv[1][0] != '-') {
        std::vector<std::string> names;
        for (const auto* command : app.get_subcommands([](CLI::App*) { return true; })) names.push_back(command->get_name());
        if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
            fmt::print(stderr, "npyflow: error: unknown command '{}'; the commands are {}\nRun 'npyflow --help' for usage.\n",
                       argv[1], fmt::join(names, ", "));
            return 2;
        }
    }

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

    npyflow::rank_group* ranks = nullptr;
    std::optional<std::string> failure;
    int code = 1;
    try {
        ranks = &npyflow::cli::launched_ranks();
        code = run();
    } catch (const npyflow::collective_error& e) {
        // Every rank knows it already; rank 0 says it.
        if (ranks->rank() == 0) print_error(e.what());
        return 1;
    } catch (const npyflow::stopped_by_another_rank&) {
        // Not this rank's failure: the exchange below names the rank that failed.
    } catch (const std::exception& e) {
        failure = e.what();
    }
    if (ranks == nullptr || !ranks->distributed()) {
        if (failure) print_error(*failure);
        return failure ? 1 : code;
    }
    if (const auto first = ranks->first_failure(failure)) {
        if (ranks->rank() == 0) print_error(*first);
        return 1;
    }
    return code;
}
