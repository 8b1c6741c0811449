#include "cli/stop_signal.hpp"

#include <csignal>

namespace npyflow::cli {
namespace {

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the flag is set from a signal handler");

extern "C" void on_stop_signal(int signal) {
    stop_requested.store(true);
    std::signal(signal, SIG_DFL);  // a second signal ends the process
}

}  // namespace

const std::atomic<bool>& install_stop_handler() {
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    return stop_requested;
}

}  // namespace npyflow::cli
