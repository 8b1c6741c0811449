// npyflow.Model: a spec and its weights, bound and checked once; predict() on numpy arrays of
// rows, split into batches run on every core, with the GIL released.

#include <atomic>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "interruptible.hpp"
#include "numpy_arrays.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/job/model.hpp"
#include "npyflow/job/output_head.hpp"
#include "npyflow/job/rank_group.hpp"
#include "npyflow/job/thread_budget.hpp"

namespace npyflow::python {
namespace {

unsigned threads_of(const std::optional<std::int64_t>& threads) {
    const one_process alone;
    return settle_threads(static_cast<unsigned>(count_of(threads, "threads", 0, 1)), alone, warn);
}

class python_model {
public:
    python_model(const py::object& spec, const py::object& weights, const std::optional<std::int64_t>& threads,
                 const std::optional<std::string>& weights_key, bool strict)
        : threads_(threads_of(threads)) {
        const auto spec_path = path_of(spec, "spec");
        const auto weights_path = path_of(weights, "weights");
        {
            const py::gil_scoped_release unlocked;
            // One OpenMP thread per network run: predict runs batches side by side instead,
            // as the CLI's streams do, so its outputs are the CLI's to the bit.
            model_.emplace(spec_path, weights_path, model_options{weights_key.value_or(""), strict, 1});
        }
        where_ = fmt::format("{} with {}", printable_path(spec_path), printable_path(weights_path));
        for (const auto& w : model_->warnings()) warn(w);
    }

    py::array predict(const py::object& x, std::int64_t batch, const std::string& output) const {
        predict_options options;
        options.output = parse_output_kind(output);
        options.batch_rows = count_of(batch, "batch", 0, 1);
        options.threads = threads_;
        const numpy_rows rows = rows_of(x, "predict");
        const auto shape = output_file_shape(rows.rows, model_->output_shape(), options.output);
        py::array out(numpy_dtype(output_dtype(options.output)), std::vector<py::ssize_t>(shape.begin(), shape.end()));
        const std::span<std::byte> dst(static_cast<std::byte*>(out.mutable_data()), static_cast<std::size_t>(out.nbytes()));
        const auto src = rows.bytes();
        run_interruptibly([&](const std::atomic<bool>& stop) {
            predict_options run = options;
            run.stop = &stop;
            model_->predict_into(src, rows.sample, dst, run);
            return 0;
        });
        return out;
    }

    std::vector<std::uint64_t> input_shape() const { return model_->spec().input_shape; }
    std::vector<std::uint64_t> output_shape() const { return model_->output_shape(); }
    const std::vector<std::string>& warnings() const { return model_->warnings(); }
    unsigned threads() const { return threads_; }
    const std::string& summary() const { return model_->summary(); }
    std::string repr() const {
        return fmt::format("<npyflow.Model {}: {} -> {}, {} threads>", where_, format_shape(input_shape()),
                           format_shape(output_shape()), threads_);
    }

private:
    std::optional<model> model_;
    unsigned threads_;
    std::string where_;
};

}  // namespace

void bind_model(py::module_& m) {
    py::class_<python_model>(m, "Model", R"(A network: an npyflow spec (docs/model-spec.md) and its weights in any
form --weights takes (.npz, .pth, Keras .h5, pickled lists, ...), bound and checked once.

    model = npyflow.Model("spec.json", "weights.pth")
    scores = model.predict(images)             # float32 (rows, classes)
    classes = model.predict(images, output="argmax")  # int64 (rows,)

threads: the cores predict() runs on (None: every core this process may use).)")
        .def(py::init<const py::object&, const py::object&, const std::optional<std::int64_t>&,
                      const std::optional<std::string>&, bool>(),
             py::arg("spec"), py::arg("weights"), py::arg("threads") = py::none(), py::arg("weights_key") = py::none(),
             py::arg("strict") = false)
        .def("predict", &python_model::predict, py::arg("x"), py::arg("batch") = 1024, py::arg("output") = "logits",
             R"(The network's outputs for the rows of x (axis 0), through the spec's preprocess ops first, so x
may be any dtype they take (uint8 images, say). output: "logits" (float32), "probs" (float32, softmax
over the last axis) or "argmax" (int64, -1 for a row with NaN outputs). batch: rows run at once by one
thread. The same bits as `npyflow score` for the same rows, whatever batch and threads. Runs without
the GIL; Ctrl-C stops it (KeyboardInterrupt).)")
        .def("summary", &python_model::summary, "The layers, their shapes and bound arrays, and the totals (score --dry-run's table).")
        .def_property_readonly("input_shape", &python_model::input_shape, "One sample's shape as the network takes it.")
        .def_property_readonly("output_shape", &python_model::output_shape, "One sample's outputs: (classes,), (T, classes), ...")
        .def_property_readonly("warnings", &python_model::warnings, "Arrays the weights hold that no layer uses.")
        .def_property_readonly("threads", &python_model::threads)
        .def("__repr__", &python_model::repr);
}

}  // namespace npyflow::python
