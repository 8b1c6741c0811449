#include "npyflow/pipeline/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include "npyflow/io/error.hpp"
#include "npyflow/pipeline/handoff.hpp"
#include "npyflow/pipeline/progress_bar.hpp"

namespace npyflow {
namespace {

namespace flow = tbb::flow;
using clock = std::chrono::steady_clock;

// Read-ahead and release-behind work in windows of this many input bytes: one madvise per
// window rather than per batch, since dropping mapped pages costs a TLB shootdown on every
// core. Resident input stays within about two windows.
constexpr std::uint64_t advice_window_bytes = 64 << 20;

// Busy time and batch count of one stage, updated from any thread.
struct stage_meter {
    std::string name;
    bool serial = false;
    trace_recorder* trace = nullptr;
    std::atomic<std::int64_t> busy_ns{0};
    std::atomic<std::uint64_t> batches{0};
};

// What ThreadSanitizer is told about hand-offs that happen inside libtbb (handoff.hpp):
// everything the caller set up before the graph ran is visible to every node (setup is
// released by the caller and only acquired by nodes), and everything nodes did is visible
// to the caller after the graph finished (teardown is released by nodes and only acquired
// by the caller). Neither token orders nodes among themselves. The setup token is global:
// a node must acquire it before it reads even its own captures, which the caller wrote.
char graph_setup_token = 0;

struct graph_handoff {
    char teardown = 0;
};

// One run of a node's body: takes over the batch (and the node's own state, for serial
// nodes) on entry and hands them on at exit.
class node_scope {
public:
    node_scope(graph_handoff& sync, const void* item, const void* state = nullptr)
        : sync_(sync), item_(item), state_(state) {
        if (item_) handoff_acquire(item_);
        if (state_) handoff_acquire(state_);
    }
    ~node_scope() {
        if (state_) handoff_release(state_);
        if (item_) handoff_release(item_);
        handoff_release(&sync_.teardown);
    }
    node_scope(const node_scope&) = delete;
    node_scope& operator=(const node_scope&) = delete;

private:
    graph_handoff& sync_;
    const void* item_;
    const void* state_;
};

// Runs fn(b) for a stage: times it, and turns any exception into an npyflow::error
// naming the stage and the rows, which cancels the graph. An input truncated under the
// stage (its lost pages read as zeros, or a write from the mapping failing) is what is
// reported, since it explains any other failure.
template <typename Fn>
void run_stage(stage_meter& meter, const dataset& input, batch& b, Fn&& fn) {
    const auto start = clock::now();
    try {
        fn(b);
        if (input.lost_pages()) input.check_not_truncated();
    } catch (const std::exception& e) {
        std::string why = e.what();
        try {
            input.check_not_truncated();
        } catch (const error& truncated) {
            why = truncated.what();
        }
        throw error(fmt::format("stage '{}' failed on {}: {}", meter.name, input.describe_rows(b.first_row, b.rows),
                                why));
    }
    const auto end = clock::now();
    meter.busy_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count();
    ++meter.batches;
    if (meter.trace) meter.trace->record(meter.name, b.index, b.first_row, b.rows, start, end);
}

}  // namespace

unsigned pipeline_threads(const pipeline_options& options) {
    return options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
}

namespace {

std::uint64_t batches_for(std::uint64_t rows, std::uint64_t batch_rows) {
    return rows / batch_rows + (rows % batch_rows != 0);
}

}  // namespace

unsigned batches_in_flight(const pipeline_options& options, std::uint64_t rows) {
    const std::uint64_t batches = batches_for(rows, std::max<std::uint64_t>(1, options.batch_rows));
    // More batches in flight than the run has would only allocate batch objects for nothing
    // (and --prefetch 4294967295 would exhaust memory).
    const std::uint64_t wanted = options.prefetch > 0 ? options.prefetch : 2 * std::uint64_t{pipeline_threads(options)};
    return static_cast<unsigned>(std::clamp<std::uint64_t>(wanted, 1, std::max<std::uint64_t>(1, batches)));
}

pipeline_report run_pipeline(const dataset& input, const std::vector<stage>& stages, const batch_sink& sink,
                             const pipeline_options& options) {
    if (options.batch_rows == 0) throw error("batch size must be at least 1");
    const std::uint64_t end_row = std::min(options.end_row, input.rows());
    if (options.first_row > end_row) {
        throw error(fmt::format("cannot start at row {}: the rows end at {}", options.first_row, end_row));
    }
    const unsigned threads = pipeline_threads(options);
    const std::uint64_t rows = end_row - options.first_row;
    const std::uint64_t batch_count = batches_for(rows, options.batch_rows);
    const unsigned prefetch = batches_in_flight(options, rows);

    // Every batch object that can exist at once: those past the limiter, plus the one the
    // source may hold (without data) while the limiter is full.
    std::vector<std::unique_ptr<batch>> pool;
    tbb::concurrent_queue<batch*> free_batches;
    for (unsigned i = 0; i < prefetch + 1; ++i) {
        pool.push_back(std::make_unique<batch>());
        free_batches.push(pool.back().get());
    }

    std::vector<std::unique_ptr<stage_meter>> meters;
    auto add_meter = [&](std::string name, bool serial) {
        meters.push_back(std::make_unique<stage_meter>());
        meters.back()->name = std::move(name);
        meters.back()->serial = serial;
        meters.back()->trace = options.trace;
        return meters.back().get();
    };
    stage_meter* read_meter = add_meter("read", false);
    std::vector<stage_meter*> stage_meters;
    for (const auto& s : stages) stage_meters.push_back(add_meter(s.name, s.serial));
    stage_meter* sink_meter = add_meter("write", true);

    const sample_desc row_sample{input.type(), input.row_shape()};
    std::atomic<unsigned> in_flight{0}, max_in_flight{0};
    std::uint64_t next_batch = 0;
    std::uint64_t rows_done = options.first_row;
    std::uint64_t released_rows = options.first_row;  // input rows given back to the kernel
    std::uint64_t in_flight_sum = 0;  // summed at each sink call, for the mean
    const std::uint64_t window_rows = std::max<std::uint64_t>(1, advice_window_bytes / std::max<std::uint64_t>(1, input.row_bytes()));
    bool stopped = false;
    progress_bar progress(end_row, input.row_bytes(), options.progress, options.first_row);
    const auto start = clock::now();

    graph_handoff sync;
    tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, threads);
    tbb::task_arena arena(static_cast<int>(threads));
    arena.execute([&] {
        flow::graph g;
        // The source and the sink are serial nodes whose successive calls may run on different
        // threads; their state is handed over like a batch.
        flow::input_node<batch*> source(g, [&](tbb::flow_control& fc) -> batch* {
            handoff_acquire(&graph_setup_token);
            const node_scope scope(sync, nullptr, &next_batch);
            if (next_batch == batch_count || (options.should_stop && options.should_stop())) {
                stopped = next_batch != batch_count;
                fc.stop();
                return nullptr;
            }
            batch* b = nullptr;
            if (!free_batches.try_pop(b)) throw error("internal: batch pool exhausted");
            handoff_acquire(b);  // from the sink that freed it
            b->index = next_batch++;
            b->first_row = options.first_row + b->index * options.batch_rows;
            b->rows = std::min<std::uint64_t>(options.batch_rows, end_row - b->first_row);
            b->flagged_rows = 0;
            // Entering a new window: ask the kernel to read the next one.
            if (b->index == 0 || b->first_row / window_rows != (b->first_row - 1) / window_rows) {
                input.will_need((b->first_row / window_rows + 1) * window_rows, window_rows);
            }
            handoff_release(b);
            return b;
        });
        flow::limiter_node<batch*> limiter(g, prefetch);
        flow::function_node<batch*, batch*> read(g, flow::unlimited, [&](batch* b) {
            handoff_acquire(&graph_setup_token);
            const node_scope scope(sync, b);
            // Counted from here, past the limiter, until the sink lets it go.
            const unsigned now = ++in_flight;
            for (unsigned seen = max_in_flight; now > seen && !max_in_flight.compare_exchange_weak(seen, now);) {
            }
            run_stage(*read_meter, input, *b, [&](batch& x) {
                x.data = input.read_rows(x.first_row, x.rows, x.input_buffer);
                x.sample = row_sample;
            });
            return b;
        });
        std::vector<std::unique_ptr<flow::function_node<batch*, batch*>>> stage_nodes;
        for (std::size_t i = 0; i < stages.size(); ++i) {
            stage_nodes.push_back(std::make_unique<flow::function_node<batch*, batch*>>(
                g, stages[i].serial ? flow::serial : flow::unlimited, [&, i](batch* b) {
                    handoff_acquire(&graph_setup_token);
                    const node_scope scope(sync, b);
                    run_stage(*stage_meters[i], input, *b, stages[i].run);
                    return b;
                }));
        }
        flow::sequencer_node<batch*> in_order(g, [](batch* b) { return static_cast<std::size_t>(b->index); });
        flow::function_node<batch*, flow::continue_msg> write(g, flow::serial, [&](batch* b) {
            handoff_acquire(&graph_setup_token);
            const node_scope scope(sync, b, &rows_done);
            run_stage(*sink_meter, input, *b, sink);
            rows_done += b->rows;
            in_flight_sum += in_flight.load();
            if (rows_done - released_rows >= window_rows || rows_done == end_row) {
                input.dont_need(released_rows, rows_done - released_rows);
                released_rows = rows_done;
            }
            progress.update(rows_done);
            --in_flight;
            handoff_release(b);  // to the source that takes it from the pool
            free_batches.push(b);
            return flow::continue_msg();
        });

        flow::make_edge(source, limiter);
        flow::make_edge(limiter, read);
        flow::sender<batch*>* last = &read;
        for (auto& node : stage_nodes) {
            flow::make_edge(*last, *node);
            last = node.get();
        }
        flow::make_edge(*last, in_order);
        flow::make_edge(in_order, write);
        flow::make_edge(write, limiter.decrementer());
        handoff_release(&graph_setup_token);
        source.activate();
        try {
            g.wait_for_all();
        } catch (...) {
            handoff_acquire(&sync.teardown);  // a cancelled graph is torn down too
            throw;
        }
        handoff_acquire(&sync.teardown);
    });
    progress.finish();
    if (stopped) {
        throw pipeline_stopped(fmt::format("interrupted after {} of {} rows", rows_done, end_row));
    }

    pipeline_report report;
    report.first_row = options.first_row;
    report.rows = rows_done - options.first_row;
    report.batches = batch_count;
    report.seconds = std::chrono::duration<double>(clock::now() - start).count();
    report.threads = threads;
    report.prefetch = prefetch;
    report.max_in_flight = max_in_flight;
    report.mean_in_flight = batch_count ? static_cast<double>(in_flight_sum) / static_cast<double>(batch_count) : 0;
    for (const auto& m : meters) {
        report.stages.push_back({m->name, static_cast<double>(m->busy_ns.load()) / 1e9, m->batches.load(), m->serial});
    }
    return report;
}

}  // namespace npyflow
