#pragma once
// RAII over the HDF5 C API's integer handles, and HDF5's error stack made quiet and
// readable. Internal to io/: includes <hdf5.h>, which npyflow's public headers do not.

#include <hdf5.h>

#include <string>
#include <utility>

namespace npyflow::hdf5 {

// An open HDF5 object (file, group, dataset, attribute, type, space, property list),
// closed by the matching H5*close when it goes out of scope. Negative ids mean "none".
class handle {
public:
    using closer = herr_t (*)(hid_t);

    handle() = default;
    handle(hid_t id, closer close) : id_(id), close_(close) {}
    handle(handle&& other) noexcept : id_(std::exchange(other.id_, -1)), close_(other.close_) {}
    handle& operator=(handle&& other) noexcept {
        if (this != &other) {
            reset();
            id_ = std::exchange(other.id_, -1);
            close_ = other.close_;
        }
        return *this;
    }
    handle(const handle&) = delete;
    handle& operator=(const handle&) = delete;
    ~handle() { reset(); }

    hid_t get() const { return id_; }
    explicit operator bool() const { return id_ >= 0; }

private:
    void reset() {
        if (id_ >= 0 && close_ != nullptr) close_(id_);
        id_ = -1;
    }

    hid_t id_ = -1;
    closer close_ = nullptr;
};

// While alive, HDF5 prints nothing to stderr on this thread (the error stack of a
// thread-safe HDF5 is per thread); the previous printing is restored afterwards, so a
// program using HDF5 elsewhere keeps its own setting.
class quiet_errors {
public:
    quiet_errors() {
        H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    }
    ~quiet_errors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
    quiet_errors(const quiet_errors&) = delete;
    quiet_errors& operator=(const quiet_errors&) = delete;

private:
    H5E_auto2_t func_ = nullptr;
    void* data_ = nullptr;
};

// What HDF5 said about the failure of the call just made: the innermost error's
// description ("truncated file: eof = 96, ..."), or "" when the stack is empty. Must be
// called before the next HDF5 call, which clears the stack.
std::string last_error();

}  // namespace npyflow::hdf5
