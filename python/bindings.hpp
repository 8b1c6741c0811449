#pragma once
// The Python module's parts, each adding its functions and classes to the module: files
// (inspect, load), Model, Dataset, and the jobs (score, preprocess). docs/python.md.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/pybind11.h>

namespace npyflow::python {

namespace py = pybind11;

void bind_files(py::module_& m);
void bind_model(py::module_& m);
void bind_dataset(py::module_& m);
void bind_jobs(py::module_& m);

// A path (str or os.PathLike), or a list of them, as paths.
std::vector<std::filesystem::path> paths_of(const py::object& paths, const char* what);
std::filesystem::path path_of(const py::object& path, const char* what);

// A count from Python: None is `none` (a default), else at least `least`; an error naming
// the argument otherwise (pybind11's own message for a negative unsigned is unreadable).
std::uint64_t count_of(const std::optional<std::int64_t>& value, const char* what, std::uint64_t none,
                       std::int64_t least);

// Python's warnings.warn(message), with the GIL held.
void warn(const std::string& message);
// Text from npyflow (messages, array names) as Python text: bytes that are not UTF-8 kept as
// surrogate escapes, as Python keeps such file names.
py::str text(const std::string& s);

}  // namespace npyflow::python
