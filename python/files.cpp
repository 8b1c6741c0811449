// inspect() and load(): what a file holds, and its arrays as numpy arrays, for every format
// the CLI reads (.npy, .npz, .pth, .h5, pickles), with nothing in a pickle ever run.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "numpy_arrays.hpp"
#include "npyflow/io/file_format.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/mapped_file.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/nn/array_listing.hpp"
#include "npyflow/nn/weight_source.hpp"

namespace npyflow::python {
namespace {

py::object stat_value(std::optional<double> v) { return v ? py::object(py::float_(*v)) : py::object(py::none()); }

py::dict inspect(const py::object& path_arg, bool stats, const std::optional<std::string>& key) {
    const auto path = path_of(path_arg, "inspect");
    const file_report report = [&] {
        const py::gil_scoped_release unlocked;
        return inspect_file(path.string(), stats, key.value_or(""));
    }();
    py::list arrays;
    for (const auto& a : report.arrays) {
        py::dict entry;
        entry["name"] = text(a.name);
        entry["dtype"] = std::string(name(a.header.type));
        py::tuple shape(a.header.shape.size());
        for (std::size_t k = 0; k < a.header.shape.size(); ++k) shape[k] = a.header.shape[k];
        entry["shape"] = shape;
        entry["fortran_order"] = a.header.fortran_order;
        entry["byte_order"] = std::string(name(a.header.order));
        entry["nbytes"] = a.header.data_bytes();
        if (a.stats) {
            entry["min"] = stat_value(a.stats->min);
            entry["max"] = stat_value(a.stats->max);
            entry["mean"] = stat_value(a.stats->mean);
            entry["nan_count"] = a.stats->nan_count;
        }
        arrays.append(entry);
    }
    py::dict out;
    out["path"] = text(path.string());  // the path itself (os.fsdecode's form), not a display form
    out["format"] = report.format.empty() ? py::object(py::none()) : py::object(text(report.format));
    out["arrays"] = arrays;
    return out;
}

// A plain .npy (not a pickled one): memory-mapped and shown as a view.
bool is_plain_npy(const std::filesystem::path& path) {
    if (std::filesystem::is_directory(path) || sniff_file(path) != file_format::npy) return false;
    const mapped_file file(path);
    return !is_object_npy(file.bytes());
}

py::object load(const py::object& path_arg, const std::optional<std::string>& key) {
    const auto path = path_of(path_arg, "load");
    if (!key && is_plain_npy(path)) return numpy_view(open_npy(path));
    // Read (and an .npz's members inflated) without the GIL; the views made with it.
    std::optional<npy_array> flat;
    std::vector<std::pair<std::string, npy_array>> arrays;
    {
        const py::gil_scoped_release unlocked;
        const weight_source source(path, key.value_or(""));
        if (source.flat()) flat = *source.flat();
        for (const auto& name : source.names()) arrays.emplace_back(name, source.load(name));
    }
    if (flat) return numpy_view(*flat);
    py::dict out;
    for (const auto& [name, array] : arrays) out[text(name)] = numpy_view(array);
    return out;
}

}  // namespace

void bind_files(py::module_& m) {
    m.def("inspect", &inspect, py::arg("path"), py::arg("stats") = false, py::arg("weights_key") = py::none(),
          R"(What a file holds, as `npyflow inspect --json` lists it: {"path", "format", "arrays": [{"name",
"dtype", "shape", "fortran_order", "byte_order", "nbytes"}, ...]}. Only headers are read (O(1) for a .npy
of any size) unless stats=True, which adds min, max, mean and nan_count from one streaming pass.
Reads .npy, .npz, PyTorch checkpoints, Keras .h5 files and pickles (never running them).)");
    m.def("load", &load, py::arg("path"), py::arg("weights_key") = py::none(),
          R"(A file's arrays, without pickle: a plain .npy as a read-only memory-mapped view (as
np.load(path, mmap_mode="r")); any other format the CLI reads (.npz, .pth/.pt, Keras .h5, a pickled
.npy or .pkl, a directory of .npy) as a dict of name -> read-only array, the names as --weights sees
them. weights_key picks the dict of a checkpoint, as --weights-key does.)");
}

}  // namespace npyflow::python
