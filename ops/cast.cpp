#include "npyflow/ops/cast.hpp"

#include <cstring>

#include "npyflow/ops/kernel_clones.hpp"
#include "npyflow/ops/saturate_cast.hpp"

namespace npyflow {
namespace {

template <typename From, typename To>
NPYFLOW_KERNEL void convert(const std::byte* src, std::byte* dst, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        From v;
        std::memcpy(&v, src + i * sizeof(From), sizeof(From));  // buffers need not be aligned
        const To out = saturate_cast<To>(v);
        std::memcpy(dst + i * sizeof(To), &out, sizeof(To));
    }
}

}  // namespace

void cast_op::run(dtype from, const std::byte* src, std::byte* dst, std::size_t count) const {
    visit_dtype(from, [&](auto f) {
        visit_dtype(to_, [&](auto t) { convert<decltype(f), decltype(t)>(src, dst, count); });
    });
}

}  // namespace npyflow
