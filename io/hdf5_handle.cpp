#include "npyflow/io/hdf5_handle.hpp"

namespace npyflow::hdf5 {

std::string last_error() {
    std::string innermost;
    // Walking upward visits the innermost (where the failure was detected) first.
    H5Ewalk2(
        H5E_DEFAULT, H5E_WALK_UPWARD,
        [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
            if (n == 0 && e->desc != nullptr) *static_cast<std::string*>(out) = e->desc;
            return 0;
        },
        &innermost);
    return innermost;
}

}  // namespace npyflow::hdf5
