#pragma once
// Element types npyflow reads and writes, named as numpy names them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace npyflow {

enum class dtype : std::uint8_t {
    bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, float32, float64
};

// How multi-byte elements are stored; "none" for one-byte types, as numpy's '|'.
enum class byte_order : std::uint8_t { little, big, none };

std::size_t itemsize(dtype t);
std::string_view name(dtype t);          // "float32", "bool", ...
std::string_view name(byte_order o);     // "little", "big", "none"
std::optional<dtype> dtype_from_name(std::string_view numpy_name);
bool is_floating(dtype t);
bool is_signed_integer(dtype t);

struct dtype_descr {
    dtype type;
    byte_order order;
};

// Parses a numpy type string such as "<f4" or "|u1". Anything npyflow cannot hold
// (complex, strings, datetimes, object/pickle, void/structured) throws npyflow::error
// with a message saying what the type is. Object arrays of weights are read by
// io/pickled_npy.hpp, never through this.
dtype_descr parse_descr(std::string_view descr);

// The type string numpy writes for t in the given order ("|" for one-byte types).
std::string descr_string(dtype t, byte_order order = byte_order::little);

}  // namespace npyflow
