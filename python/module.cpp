// The npyflow Python module (_npyflow; npyflow/__init__.py re-exports it): numpy arrays in
// and out, the flow graph and oneDNN doing the work with the GIL released. docs/python.md.

#include <fmt/format.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "bindings.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/job/version.hpp"

namespace npyflow::python {

std::filesystem::path path_of(const py::object& path, const char* what) {
    if (py::isinstance<py::str>(path) || py::hasattr(path, "__fspath__")) {
        return py::cast<std::filesystem::path>(path);
    }
    throw error(fmt::format("{}: expected a path (str or os.PathLike), got {}", what,
                            py::str(path.get_type().attr("__name__")).cast<std::string>()));
}

std::vector<std::filesystem::path> paths_of(const py::object& paths, const char* what) {
    if (py::isinstance<py::str>(paths) || py::hasattr(paths, "__fspath__")) return {path_of(paths, what)};
    std::vector<std::filesystem::path> out;
    if (py::isinstance<py::sequence>(paths)) {
        for (const auto& p : paths) out.push_back(path_of(py::reinterpret_borrow<py::object>(p), what));
        return out;
    }
    throw error(fmt::format("{}: expected a path or a list of paths, got {}", what,
                            py::str(paths.get_type().attr("__name__")).cast<std::string>()));
}

std::uint64_t count_of(const std::optional<std::int64_t>& value, const char* what, std::uint64_t none,
                       std::int64_t least) {
    if (!value) return none;
    if (*value < least) throw error(fmt::format("{} must be at least {}, not {}", what, least, *value));
    return static_cast<std::uint64_t>(*value);
}

void warn(const std::string& message) {
    if (PyErr_WarnEx(PyExc_UserWarning, message.c_str(), 1) != 0) throw py::error_already_set();
}

}  // namespace npyflow::python

PYBIND11_MODULE(_npyflow, m) {
    namespace np = npyflow::python;
    m.doc() = "npyflow: NumPy datasets through preprocessing and oneDNN networks on every core";
    // Every error npyflow reports, with the CLI's message; a ValueError, as numpy's own are.
    pybind11::register_exception<npyflow::error>(m, "Error", PyExc_ValueError);
    m.attr("__version__") = std::string(npyflow::version());
    np::bind_files(m);
    np::bind_model(m);
    np::bind_dataset(m);
    np::bind_jobs(m);
}
