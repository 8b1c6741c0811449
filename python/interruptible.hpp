#pragma once
// Long work called from Python: run on a thread of its own while Python's thread waits
// without the GIL (so other Python threads run), looking for signals every 50 ms. On Ctrl-C
// the work's stop flag is set and the work is waited for: a job ends cleanly, keeping its
// partial output for resume, and Python sees KeyboardInterrupt carrying the job's message.

#include <atomic>
#include <chrono>
#include <future>
#include <utility>

#include <pybind11/pybind11.h>

#include "npyflow/job/run_job.hpp"

namespace npyflow::python {

inline constexpr std::chrono::milliseconds signal_poll{50};

// Raises KeyboardInterrupt with `message` in place of the bare one Python's handler set.
[[noreturn]] inline void raise_interrupt(const char* message) {
    PyErr_SetString(PyExc_KeyboardInterrupt, message);
    throw pybind11::error_already_set();
}

// fn(stop) -> T, called with the GIL held; returns what fn returned.
template <typename Fn>
auto run_interruptibly(Fn&& fn) {
    std::atomic<bool> stop{false};
    auto result = std::async(std::launch::async, [&] { return fn(stop); });
    for (;;) {
        {
            const pybind11::gil_scoped_release unlocked;
            if (result.wait_for(signal_poll) == std::future_status::ready) break;
        }
        if (PyErr_CheckSignals() != 0) {  // Python's handler raised (KeyboardInterrupt)
            stop = true;
            {
                const pybind11::gil_scoped_release unlocked;
                result.wait();
            }
            try {
                (void)result.get();
            } catch (const job_stopped& stopped) {
                raise_interrupt(stopped.what());
            } catch (...) {  // the work's own failure, or a stop it reported otherwise
            }
            throw pybind11::error_already_set();  // the pending KeyboardInterrupt
        }
    }
    return result.get();
}

}  // namespace npyflow::python
