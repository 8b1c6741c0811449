#pragma once
// Long work called from Python: run on a thread of its own while Python's thread waits
// without the GIL (so other Python threads run), looking for signals every 50 ms. On Ctrl-C
// the work's stop flag is set and the work is waited for: a job ends cleanly, keeping its
// partial output for resume, and Python sees KeyboardInterrupt carrying the job's message.
//
// Each Python thread's work runs on one worker thread kept for that Python thread's life, not
// a new thread per call: a network keeps a plan per thread that runs it, which a new thread
// for every predict() would build again and keep.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
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

// One thread that runs the jobs it is given, one at a time.
class worker_thread {
public:
    worker_thread() : thread_([this] { loop(); }) {}
    ~worker_thread() {
        {
            const std::lock_guard lock(mutex_);
            quit_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }
    void run(std::function<void()> job) {
        {
            const std::lock_guard lock(mutex_);
            job_ = std::move(job);
        }
        wake_.notify_one();
    }

private:
    void loop() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return quit_ || job_; });
                if (!job_) return;
                job = std::move(job_);
                job_ = nullptr;
            }
            job();
        }
    }
    std::mutex mutex_;
    std::condition_variable wake_;
    std::function<void()> job_;
    bool quit_ = false;
    std::thread thread_;  // last: started once the rest exists
};

// fn(stop) -> T, called with the GIL held; returns what fn returned.
template <typename Fn>
auto run_interruptibly(Fn&& fn) {
    thread_local worker_thread worker;
    std::atomic<bool> stop{false};
    std::packaged_task<decltype(fn(stop))()> task([&] { return fn(stop); });
    auto result = task.get_future();
    worker.run([&task] { task(); });
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
