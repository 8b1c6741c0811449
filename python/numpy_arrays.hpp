#pragma once
// numpy arrays to and from npyflow's: dtypes by numpy's names, npyflow arrays as numpy views
// of the same bytes (kept alive by the array), and numpy arrays of rows as the bytes and
// sample a job or a model takes.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <pybind11/numpy.h>

#include "npyflow/io/dtype.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/job/buffer_pool.hpp"
#include "npyflow/ops/sample_desc.hpp"

namespace npyflow::python {

namespace py = pybind11;

py::dtype numpy_dtype(dtype type, byte_order order = byte_order::little);

// A read-only numpy view of the array's bytes, as stored (Fortran order and byte order
// included): no copy; the view keeps the file mapping or buffer alive.
py::array numpy_view(const npy_array& array);

// A numpy array that takes over `bytes` (no copy): shape `shape`, C order, native bytes.
// With a pool, the bytes go back to it when the array is freed.
py::array numpy_owning(std::vector<std::byte>&& bytes, dtype type, const std::vector<std::uint64_t>& shape,
                       std::shared_ptr<buffer_pool> pool = nullptr);

// Rows as a model or a job takes them: a C-contiguous array in native byte order (a view of
// `rows` when it already is one, else a converted copy), and its rows' dtype and shape.
// Throws npyflow::error for a dtype npyflow does not read (complex, strings, objects).
struct numpy_rows {
    py::array array;  // keeps the bytes alive
    sample_desc sample;
    std::uint64_t rows = 0;
    std::span<const std::byte> bytes() const;
};
numpy_rows rows_of(const py::object& rows, const char* what);

}  // namespace npyflow::python
