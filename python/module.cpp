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

namespace {

bool is_path(const py::object& p) {
    return py::isinstance<py::str>(p) || py::isinstance<py::bytes>(p) || py::hasattr(p, "__fspath__");
}

}  // namespace

std::filesystem::path path_of(const py::object& path, const char* what) {
    if (!is_path(path)) {
        throw error(fmt::format("{}: expected a path (str, bytes or os.PathLike), got {}", what,
                                py::str(path.get_type().attr("__name__")).cast<std::string>()));
    }
    // os.fsencode: the file system's bytes, as Python itself opens the file (an __fspath__
    // that fails raises its own error; a NUL byte is refused as open() refuses it).
    const std::string bytes = py::module_::import("os").attr("fsencode")(path).cast<std::string>();
    if (bytes.find('\0') != std::string::npos) throw error(fmt::format("{}: a path holds a NUL byte", what));
    return std::filesystem::path(bytes);
}

std::vector<std::filesystem::path> paths_of(const py::object& paths, const char* what) {
    if (is_path(paths)) return {path_of(paths, what)};
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

py::str text(const std::string& s) {
    PyObject* decoded = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
    if (!decoded) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(decoded);
}

void warn(const std::string& message) {
    py::module_::import("warnings").attr("warn")(text(message), py::reinterpret_borrow<py::object>(PyExc_UserWarning), 2);
}

}  // namespace npyflow::python

PYBIND11_MODULE(_npyflow, m) {
    namespace np = npyflow::python;
    m.doc() = "npyflow: NumPy datasets through preprocessing and oneDNN networks on every core";
    // Every error npyflow reports, with the CLI's message; a ValueError, as numpy's own are.
    // Messages may hold a file's bytes that are not UTF-8 (a name in an archive): kept as
    // surrogate escapes, as Python keeps such file names, never an empty message.
    static PyObject* error_type = pybind11::register_exception<npyflow::error>(m, "Error", PyExc_ValueError).ptr();
    pybind11::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const npyflow::error& e) {
            PyErr_SetObject(error_type, np::text(e.what()).ptr());
        }
    });
    m.attr("__version__") = std::string(npyflow::version());
    np::bind_files(m);
    np::bind_model(m);
    np::bind_dataset(m);
    np::bind_jobs(m);
}
