#include "npyflow/pipeline/pipeline.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include "npyflow/io/error.hpp"
#include "npyflow/pipeline/batch_order.hpp"
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

std::uint64_t batches_for(std::uint64_t rows, std::uint64_t batch_rows) {
    return rows / batch_rows + (rows % batch_rows != 0);
}

// Busy time and batch count of one stage, updated from any thread.
struct stage_meter {
    std::string name;
    bool serial = false;
    trace_recorder* trace = nullptr;
    std::atomic<std::int64_t> busy_ns{0};
    std::atomic<std::uint64_t> batches{0};
};

// The meters of one run, in report order: "read", the given stages, "write". Each meter is
// allocated on its own, since the nodes hold references to them.
class run_meters {
public:
    run_meters(const std::vector<stage>& stages, trace_recorder* trace) {
        add("read", false, trace);
        for (const auto& s : stages) add(s.name, s.serial, trace);
        add("write", true, trace);
    }
    stage_meter& read() { return *all_.front(); }
    stage_meter& of_stage(std::size_t i) { return *all_[i + 1]; }
    stage_meter& write() { return *all_.back(); }

    std::vector<stage_report> reports() const {
        std::vector<stage_report> out;
        for (const auto& m : all_) {
            out.push_back({m->name, static_cast<double>(m->busy_ns.load()) / 1e9, m->batches.load(), m->serial});
        }
        return out;
    }

private:
    void add(std::string name, bool serial, trace_recorder* trace) {
        all_.push_back(std::make_unique<stage_meter>());
        all_.back()->name = std::move(name);
        all_.back()->serial = serial;
        all_.back()->trace = trace;
    }
    std::vector<std::unique_ptr<stage_meter>> all_;
};

// What ThreadSanitizer is told about hand-offs that happen inside libtbb (handoff.hpp):
// everything the caller set up before the graph ran is visible to every node (setup is
// released by the caller and only acquired by nodes), and everything nodes did is visible
// to the caller after the graph finished (teardown is released by nodes and only acquired
// by the caller). Neither token orders nodes among themselves. The setup token is global:
// a node must acquire it before it reads even its own members, which the caller wrote.
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

// Every batch object that can exist at once: those past the limiter, plus the one the
// source may hold (without data) while the limiter is full.
class batch_pool {
public:
    explicit batch_pool(unsigned prefetch) {
        for (unsigned i = 0; i < prefetch + 1; ++i) {
            all_.push_back(std::make_unique<batch>());
            free_.push(all_.back().get());
        }
    }
    // For the source: the batch was last written by the write node that gave it back.
    batch* take() {
        batch* b = nullptr;
        if (!free_.try_pop(b)) throw error("internal: batch pool exhausted");
        handoff_acquire(b);
        return b;
    }
    // For the write node, once the sink is done with the batch.
    void give_back(batch* b) {
        handoff_release(b);
        free_.push(b);
    }

private:
    std::vector<std::unique_ptr<batch>> all_;
    tbb::concurrent_queue<batch*> free_;
};

// What the nodes of one run share. The caller fills it in before the graph starts; the
// fields marked as a serial node's own are touched by that node only, one call at a time.
struct run_state {
    run_state(const dataset& in, const std::vector<stage>& stages, const pipeline_options& opts, std::uint64_t end)
        : input(in),
          options(opts),
          end_row(end),
          batch_count(batches_for(end - opts.first_row, opts.batch_rows)),
          prefetch(batches_in_flight(opts, end - opts.first_row)),
          window_rows(std::max<std::uint64_t>(1, advice_window_bytes / std::max<std::uint64_t>(1, in.row_bytes()))),
          row_sample{in.type(), in.row_shape()},
          pool(prefetch),
          meters(stages, opts.trace),
          rows_done(opts.first_row),
          released_rows(opts.first_row),
          progress(end, in.row_bytes(), opts.progress, opts.first_row) {}

    bool shuffled() const { return !options.batch_order.empty(); }

    const dataset& input;
    const pipeline_options& options;
    const std::uint64_t end_row;      // options.end_row clipped to the dataset
    const std::uint64_t batch_count;
    const unsigned prefetch;          // the limiter's bound
    const std::uint64_t window_rows;  // input rows per read-ahead / release-behind window
    const sample_desc row_sample;     // what read leaves in each batch
    batch_pool pool;
    run_meters meters;
    graph_handoff sync;

    // Batches past the limiter: counted in by read, out by write.
    std::atomic<unsigned> in_flight{0}, max_in_flight{0};

    // The source's own.
    std::uint64_t next_batch = 0;
    bool stopped = false;  // should_stop ended the run before its last batch

    // The write node's own.
    std::uint64_t rows_done;
    std::uint64_t released_rows;      // input rows given back to the kernel
    std::uint64_t in_flight_sum = 0;  // in_flight summed at each call, for the mean
    progress_bar progress;
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

// The node bodies. TBB copies each into its node; they hold only references. The source and
// the write node are serial nodes whose successive calls may run on different threads, so
// their state is handed over like a batch (node_scope).

// input_node: the next batch's rows, from the pool, until the rows run out or should_stop
// says to stop (checked before each batch).
struct source_body {
    run_state& run;

    batch* operator()(tbb::flow_control& fc) const {
        handoff_acquire(&graph_setup_token);
        const node_scope scope(run.sync, nullptr, &run.next_batch);
        const pipeline_options& options = run.options;
        if (run.next_batch == run.batch_count || (options.should_stop && options.should_stop())) {
            run.stopped = run.next_batch != run.batch_count;
            fc.stop();
            return nullptr;
        }
        batch* b = run.pool.take();
        b->index = run.next_batch++;
        const std::uint64_t number = run.shuffled() ? options.batch_order[b->index] : b->index;
        b->first_row = options.first_row + number * options.batch_rows;
        b->rows = std::min<std::uint64_t>(options.batch_rows, run.end_row - b->first_row);
        b->flagged_rows = 0;
        if (run.shuffled()) {
            // No window ahead to read: the batch's own rows.
            run.input.will_need(b->first_row, b->rows);
        } else if (const std::uint64_t window = run.window_rows;
                   b->index == 0 || b->first_row / window != (b->first_row - 1) / window) {
            // Entering a new window: ask the kernel to read the next one.
            run.input.will_need((b->first_row / window + 1) * window, window);
        }
        handoff_release(b);
        return b;
    }
};

// Past the limiter, any number at once: counts the batch in flight and reads its rows.
struct read_body {
    run_state& run;
    stage_meter& meter;

    batch* operator()(batch* b) const {
        handoff_acquire(&graph_setup_token);
        const node_scope scope(run.sync, b);
        // Counted from here, past the limiter, until the write node lets it go.
        const unsigned now = ++run.in_flight;
        for (unsigned seen = run.max_in_flight; now > seen && !run.max_in_flight.compare_exchange_weak(seen, now);) {
        }
        run_stage(meter, run.input, *b, [&](batch& x) {
            x.data = run.input.read_rows(x.first_row, x.rows, x.input_buffer);
            x.sample = run.row_sample;
        });
        return b;
    }
};

// One of the caller's stages, on any batch (one at a time if the stage is serial).
struct stage_body {
    run_state& run;
    const stage& work;
    stage_meter& meter;

    batch* operator()(batch* b) const {
        handoff_acquire(&graph_setup_token);
        const node_scope scope(run.sync, b);
        run_stage(meter, run.input, *b, work.run);
        return b;
    }
};

// sequencer_node: a batch's place in input order, which the write node sees them in.
struct input_order {
    std::size_t operator()(batch* b) const { return static_cast<std::size_t>(b->index); }
};

// The last stage, serial, in input order: the caller's sink, then the row count, release-
// behind and progress; then the batch goes back to the pool and the limiter lets another in.
struct write_body {
    run_state& run;
    const batch_sink& sink;
    stage_meter& meter;

    flow::continue_msg operator()(batch* b) const {
        handoff_acquire(&graph_setup_token);
        const node_scope scope(run.sync, b, &run.rows_done);
        run_stage(meter, run.input, *b, sink);
        run.rows_done += b->rows;
        run.in_flight_sum += run.in_flight.load();
        if (run.shuffled()) {
            // Rows done are not one range: each batch's rows are given back as it leaves.
            run.input.dont_need(b->first_row, b->rows);
        } else if (run.rows_done - run.released_rows >= run.window_rows || run.rows_done == run.end_row) {
            run.input.dont_need(run.released_rows, run.rows_done - run.released_rows);
            run.released_rows = run.rows_done;
        }
        run.progress.update(run.rows_done);
        --run.in_flight;
        run.pool.give_back(b);
        return flow::continue_msg();
    }
};

// Builds the graph, source -> limiter -> read -> stages -> in_order -> write, with write
// decrementing the limiter, and runs it until the source stops or a node throws.
void run_graph(run_state& run, const std::vector<stage>& stages, const batch_sink& sink) {
    flow::graph g;
    flow::input_node<batch*> source(g, source_body{run});
    flow::limiter_node<batch*> limiter(g, run.prefetch);
    flow::function_node<batch*, batch*> read(g, flow::unlimited, read_body{run, run.meters.read()});
    std::vector<std::unique_ptr<flow::function_node<batch*, batch*>>> stage_nodes;
    for (std::size_t i = 0; i < stages.size(); ++i) {
        stage_nodes.push_back(std::make_unique<flow::function_node<batch*, batch*>>(
            g, stages[i].serial ? flow::serial : flow::unlimited, stage_body{run, stages[i], run.meters.of_stage(i)}));
    }
    flow::sequencer_node<batch*> in_order(g, input_order{});
    flow::function_node<batch*, flow::continue_msg> write(g, flow::serial, write_body{run, sink, run.meters.write()});

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
        handoff_acquire(&run.sync.teardown);  // a cancelled graph is torn down too
        throw;
    }
    handoff_acquire(&run.sync.teardown);
}

}  // namespace

unsigned pipeline_threads(const pipeline_options& options) {
    return options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
}

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
    if (!options.batch_order.empty()) {
        check_batch_order(options.batch_order, batches_for(end_row - options.first_row, options.batch_rows));
    }
    const unsigned threads = pipeline_threads(options);
    run_state run(input, stages, options, end_row);
    const auto start = clock::now();

    tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, threads);
    tbb::task_arena arena(static_cast<int>(threads));
    arena.execute([&] { run_graph(run, stages, sink); });
    run.progress.finish();
    if (run.stopped) {
        throw pipeline_stopped(fmt::format("interrupted after {} of {} rows", run.rows_done, end_row));
    }

    pipeline_report report;
    report.first_row = options.first_row;
    report.rows = run.rows_done - options.first_row;
    report.batches = run.batch_count;
    report.seconds = std::chrono::duration<double>(clock::now() - start).count();
    report.threads = threads;
    report.prefetch = run.prefetch;
    report.max_in_flight = run.max_in_flight;
    report.mean_in_flight =
        run.batch_count ? static_cast<double>(run.in_flight_sum) / static_cast<double>(run.batch_count) : 0;
    report.stages = run.meters.reports();
    return report;
}

}  // namespace npyflow
