#include "numpy_arrays.hpp"

#include <string>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow::python {

py::dtype numpy_dtype(dtype type, byte_order order) { return py::dtype(descr_string(type, order)); }

py::array numpy_view(const npy_array& array) {
    const npy_header& h = array.header();
    const auto item = static_cast<py::ssize_t>(itemsize(h.type));
    std::vector<py::ssize_t> shape(h.shape.begin(), h.shape.end()), strides(h.shape.size());
    py::ssize_t step = item;
    for (std::size_t k = 0; k < shape.size(); ++k) {
        const std::size_t axis = h.fortran_order ? k : shape.size() - 1 - k;
        strides[axis] = step;
        step *= std::max<py::ssize_t>(shape[axis], 1);
    }
    // The owner stays alive as long as the numpy array: a capsule holds a copy of the array.
    auto* keep = new npy_array(array);
    const py::capsule owner(keep, [](void* p) { delete static_cast<npy_array*>(p); });
    py::array view(numpy_dtype(h.type, h.order), shape, strides, array.raw_data().data(), owner);
    py::detail::array_proxy(view.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return view;
}

namespace {

// What a numpy array owns: the bytes, given back to their pool when the array is freed.
struct held_bytes {
    std::vector<std::byte> bytes;
    std::shared_ptr<buffer_pool> pool;
    ~held_bytes() {
        if (pool) pool->give_back(std::move(bytes));
    }
};

}  // namespace

py::array numpy_owning(std::vector<std::byte>&& bytes, dtype type, const std::vector<std::uint64_t>& shape,
                       std::shared_ptr<buffer_pool> pool) {
    auto* keep = new held_bytes{std::move(bytes), std::move(pool)};
    const py::capsule owner(keep, [](void* p) { delete static_cast<held_bytes*>(p); });
    const std::vector<py::ssize_t> dims(shape.begin(), shape.end());
    return py::array(numpy_dtype(type), dims, keep->bytes.data(), owner);
}

std::span<const std::byte> numpy_rows::bytes() const {
    return {static_cast<const std::byte*>(array.data()), static_cast<std::size_t>(array.nbytes())};
}

numpy_rows rows_of(const py::object& rows, const char* what) {
    // numpy's own conversions, which raise what went wrong (a ragged list, MemoryError).
    const py::module_ np = py::module_::import("numpy");
    py::array a = np.attr("asarray")(rows);
    const std::string numpy_name = py::str(a.dtype().attr("name"));
    const auto type = dtype_from_name(numpy_name);
    if (!type) {
        throw error(fmt::format("{}: numpy dtype {} is not one npyflow reads (bool, int8 to int64, uint8 to uint64, "
                                "float16, float32, float64)",
                                what, numpy_name));
    }
    if (a.ndim() == 0) throw error(fmt::format("{}: a 0-d array holds no rows; rows are the first axis", what));
    // Native byte order, C order: what the preprocess plan reads. A view when it already is.
    if (a.dtype().attr("byteorder").cast<std::string>() == ">") {
        a = a.attr("astype")(a.dtype().attr("newbyteorder")("="));
    }
    a = np.attr("ascontiguousarray")(a);
    numpy_rows out{a, {*type, {}}, static_cast<std::uint64_t>(a.shape(0))};
    for (py::ssize_t k = 1; k < a.ndim(); ++k) out.sample.shape.push_back(static_cast<std::uint64_t>(a.shape(k)));
    return out;
}

}  // namespace npyflow::python
