#include "npyflow/io/truncation_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>

namespace npyflow {
namespace {

// A fixed table, because the signal handler may neither lock nor allocate. A slot is
// published by setting `end` last and withdrawn by clearing it first.
struct slot {
    std::atomic<std::uintptr_t> begin{0};
    std::atomic<std::uintptr_t> end{0};
    std::atomic<bool> taken{false};
    std::atomic<bool> truncated{false};
};
constexpr std::size_t slot_count = 4096;
std::array<slot, slot_count> slots;
static_assert(std::atomic<std::uintptr_t>::is_always_lock_free && std::atomic<bool>::is_always_lock_free,
              "the table is read from a signal handler");

struct sigaction previous_action {};

extern "C" void on_bus_error(int signal, siginfo_t* info, void* context) {
    const auto address = reinterpret_cast<std::uintptr_t>(info->si_addr);
    for (auto& s : slots) {
        if (address < s.begin.load() || address >= s.end.load()) continue;
        static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
        void* page_start = reinterpret_cast<void*>(address & ~(page - 1));
        // Zeros in place of the vanished page; the faulting read is then retried and succeeds.
        if (::mmap(page_start, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) break;
        s.truncated.store(true);
        return;
    }
    // Not one of ours (or the page could not be replaced): what would have happened anyway.
    if (previous_action.sa_flags & SA_SIGINFO) {
        if (previous_action.sa_sigaction) return previous_action.sa_sigaction(signal, info, context);
    } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
        return previous_action.sa_handler(signal);
    }
    ::signal(signal, SIG_DFL);  // returning re-runs the access, which now ends the process
}

void install_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_sigaction = on_bus_error;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGBUS, &action, &previous_action);
    });
}

}  // namespace

truncation_guard::truncation_guard(const void* begin, std::size_t length) {
    if (length == 0) return;
    install_handler();
    for (std::size_t i = 0; i < slot_count; ++i) {
        bool expected = false;
        if (!slots[i].taken.compare_exchange_strong(expected, true)) continue;
        slots[i].truncated.store(false);
        slots[i].begin.store(reinterpret_cast<std::uintptr_t>(begin));
        slots[i].end.store(reinterpret_cast<std::uintptr_t>(begin) + length);
        slot_ = static_cast<int>(i);
        return;
    }
}

truncation_guard::~truncation_guard() {
    if (slot_ < 0) return;
    auto& s = slots[static_cast<std::size_t>(slot_)];
    s.end.store(0);
    s.begin.store(0);
    s.taken.store(false);
}

bool truncation_guard::truncated() const { return slot_ >= 0 && slots[static_cast<std::size_t>(slot_)].truncated.load(); }

}  // namespace npyflow
