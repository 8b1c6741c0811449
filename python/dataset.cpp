// npyflow.Dataset: a data loader whose batches the flow graph reads and preprocesses in the
// background while Python consumes them (job/batch_loader.hpp), each handed over as a numpy
// array that owns its bytes (torch.from_numpy takes it without a copy).

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "interruptible.hpp"
#include "numpy_arrays.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/job/batch_loader.hpp"
#include "npyflow/job/rank_group.hpp"
#include "npyflow/job/thread_budget.hpp"

namespace npyflow::python {
namespace {

std::vector<std::uint64_t> batch_shape(std::uint64_t rows, const std::vector<std::uint64_t>& sample) {
    std::vector<std::uint64_t> shape{rows};
    shape.insert(shape.end(), sample.begin(), sample.end());
    return shape;
}

// One pass over the dataset: Python's iterator.
class python_pass {
public:
    python_pass(std::unique_ptr<batch_loader::pass> pass, bool labels) : pass_(std::move(pass)), labels_(labels) {}
    python_pass(python_pass&& other) noexcept
        : pass_(std::move(other.pass_)),
          labels_(other.labels_),
          label_type_(other.label_type_),
          label_shape_(std::move(other.label_shape_)) {}

    py::object next() {
        // One reader at a time, as a Python generator allows: the pass is not shared state
        // that two threads may step (and end) at once.
        if (busy_.exchange(true)) {
            throw error("this Dataset iterator is being read by another thread; give each thread its own "
                        "iter(dataset)");
        }
        struct release {
            std::atomic<bool>& busy;
            ~release() { busy = false; }
        } const done{busy_};
        if (!pass_) throw py::stop_iteration();
        for (;;) {
            bool ready = false;
            {
                const py::gil_scoped_release unlocked;
                ready = pass_->ready(signal_poll);
            }
            if (ready) break;
            if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        }
        std::optional<loaded_batch> b;
        {
            const py::gil_scoped_release unlocked;
            b = pass_->next();
        }
        if (!b) {
            pass_.reset();  // its pipeline has ended: nothing to keep
            throw py::stop_iteration();
        }
        py::array x = numpy_owning(std::move(b->data), b->sample.type, batch_shape(b->rows, b->sample.shape),
                                   std::move(b->data_pool));
        if (!labels_) return std::move(x);
        return py::make_tuple(x, numpy_owning(std::move(b->labels), label_type_, batch_shape(b->rows, label_shape_),
                                              std::move(b->label_pool)));
    }

    void set_labels(const sample_desc& s) {
        label_type_ = s.type;
        label_shape_ = s.shape;
    }

private:
    std::unique_ptr<batch_loader::pass> pass_;
    std::atomic<bool> busy_{false};
    bool labels_;
    dtype label_type_ = dtype::int64;
    std::vector<std::uint64_t> label_shape_;
};

nlohmann::json ops_of(const py::object& spec) {
    std::string json_text;
    try {  // strict JSON: NaN and Infinity are no numbers a spec file could hold
        json_text = py::module_::import("json").attr("dumps")(spec, py::arg("allow_nan") = false).cast<std::string>();
    } catch (py::error_already_set& e) {
        throw error(fmt::format("spec: not JSON a spec file could hold: {}", e.what()));
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::exception& e) {
        throw error(fmt::format("spec: {}", e.what()));
    }
    if (j.is_object()) {
        if (!j.contains("preprocess")) throw error("spec: a dict needs a \"preprocess\" list of ops");
        return j["preprocess"];
    }
    if (!j.is_array()) throw error("spec: expected a path, a list of ops or a dict with \"preprocess\"");
    return j;
}

class python_dataset {
public:
    python_dataset(const py::object& paths, const py::object& spec, std::int64_t batch,
                   const std::optional<std::int64_t>& prefetch, const std::optional<std::int64_t>& threads,
                   std::int64_t start, const std::optional<std::int64_t>& stop, bool shuffle, std::int64_t seed,
                   std::int64_t rank, std::int64_t ranks, const py::object& labels, bool drop_last) {
        batch_loader_options o;
        o.inputs = paths_of(paths, "Dataset");
        if (py::isinstance<py::str>(spec) || py::hasattr(spec, "__fspath__")) {
            o.spec = path_of(spec, "spec");
        } else if (!spec.is_none()) {
            o.preprocess = ops_of(spec);
        }
        if (!labels.is_none()) o.labels = path_of(labels, "labels");
        o.batch_rows = count_of(batch, "batch", 0, 1);
        o.prefetch = static_cast<unsigned>(std::min<std::uint64_t>(count_of(prefetch, "prefetch", 0, 1), 1u << 16));
        // Beyond the CPUs, threads only wait for a core (and thousands exhaust the process):
        // lowered, with a warning, as every job does.
        const one_process alone;
        o.threads = settle_threads(static_cast<unsigned>(std::min<std::uint64_t>(count_of(threads, "threads", 0, 1), 1u << 20)),
                                   alone, warn);
        o.start = count_of(start, "start", 0, 0);
        o.stop = count_of(stop, "stop", UINT64_MAX, 0);
        o.shuffle = shuffle;
        o.seed = static_cast<std::uint64_t>(seed);
        if (ranks < 1 || ranks > (1 << 24) || rank < 0 || rank >= ranks) {
            throw error(fmt::format("rank {} of {}: ranks must be at least 1 and the rank in [0, ranks)", rank, ranks));
        }
        o.ranks = static_cast<int>(ranks);
        o.rank = static_cast<int>(rank);
        o.drop_last = drop_last;
        const py::gil_scoped_release unlocked;
        loader_ = std::make_unique<batch_loader>(o);
    }

    std::uint64_t len() const { return loader_->batches(); }
    python_pass iterate() {
        python_pass pass(loader_->start(epoch_++), loader_->label_sample().has_value());
        if (const auto s = loader_->label_sample()) pass.set_labels(*s);
        return pass;
    }
    std::uint64_t rows() const { return loader_->rows(); }
    std::vector<std::uint64_t> sample_shape() const { return loader_->sample().shape; }
    py::dtype type() const { return numpy_dtype(loader_->sample().type); }
    std::uint64_t epoch() const { return epoch_; }
    void set_epoch(std::int64_t e) { epoch_ = count_of(e, "epoch", 0, 0); }
    std::string repr() const {
        return fmt::format("<npyflow.Dataset: {} rows of {} in {} batches; {}>", rows(), loader_->sample().to_string(),
                           len(), loader_->describe());
    }

private:
    std::unique_ptr<batch_loader> loader_;
    std::uint64_t epoch_ = 0;
};

}  // namespace

void bind_dataset(py::module_& m) {
    py::class_<python_pass>(m, "DatasetIterator")
        .def("__iter__", [](py::object self) { return self; })
        .def("__next__", &python_pass::next);

    py::class_<python_dataset>(m, "Dataset", R"(Batches of .npy files, preprocessed by npyflow's flow graph in the
background while Python consumes them, in input order (or, with shuffle, in a seeded order of batches).

    for x in npyflow.Dataset("images.npy", spec="spec.json", batch=256):
        train_step(torch.from_numpy(x))        # no copy

paths: one .npy or several (one dataset, concatenated along axis 0). spec: a JSON file with a
"preprocess" list (a model spec works), the list of ops itself, or a dict holding it; None: rows as
stored. labels: a .npy with one label per row; each batch is then (x, y). Rows [start, stop) are
split among `ranks` as a job's ranks split them, this process taking share `rank`. At most
`prefetch` batches (default: twice the threads) are in the pipeline and as many wait ready.
Each pass (iter) uses the next epoch, which varies a shuffled order; set_epoch chooses it.)")
        .def(py::init<const py::object&, const py::object&, std::int64_t, const std::optional<std::int64_t>&,
                      const std::optional<std::int64_t>&, std::int64_t, const std::optional<std::int64_t>&, bool,
                      std::int64_t, std::int64_t, std::int64_t, const py::object&, bool>(),
             py::arg("paths"), py::arg("spec") = py::none(), py::arg("batch") = 1024, py::arg("prefetch") = py::none(),
             py::arg("threads") = py::none(), py::arg("start") = 0, py::arg("stop") = py::none(),
             py::arg("shuffle") = false, py::arg("seed") = 0, py::arg("rank") = 0, py::arg("ranks") = 1,
             py::arg("labels") = py::none(), py::arg("drop_last") = false)
        .def("__len__", &python_dataset::len, "Batches in a pass.")
        .def("__iter__", &python_dataset::iterate)
        .def_property_readonly("rows", &python_dataset::rows, "Rows in a pass (this rank's).")
        .def_property_readonly("sample_shape", &python_dataset::sample_shape, "One row's shape after the preprocess ops.")
        .def_property_readonly("dtype", &python_dataset::type, "The batches' numpy dtype.")
        .def_property_readonly("epoch", &python_dataset::epoch, "The epoch the next pass uses.")
        .def("set_epoch", &python_dataset::set_epoch, py::arg("epoch"))
        .def("__repr__", &python_dataset::repr);
}

}  // namespace npyflow::python
