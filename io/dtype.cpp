#include "npyflow/io/dtype.hpp"

#include <array>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {
namespace {

struct dtype_info {
    dtype type;
    std::string_view name;
    char kind;  // numpy's kind character: b i u f
    std::size_t size;
};

constexpr std::array<dtype_info, 12> dtypes{{
    {dtype::bool_, "bool", 'b', 1},     {dtype::int8, "int8", 'i', 1},
    {dtype::int16, "int16", 'i', 2},    {dtype::int32, "int32", 'i', 4},
    {dtype::int64, "int64", 'i', 8},    {dtype::uint8, "uint8", 'u', 1},
    {dtype::uint16, "uint16", 'u', 2},  {dtype::uint32, "uint32", 'u', 4},
    {dtype::uint64, "uint64", 'u', 8},  {dtype::float16, "float16", 'f', 2},
    {dtype::float32, "float32", 'f', 4}, {dtype::float64, "float64", 'f', 8},
}};

const dtype_info& info(dtype t) { return dtypes[static_cast<std::size_t>(t)]; }

// What a numpy kind character we do not support means, for the error message.
std::string_view unsupported_kind(char kind) {
    switch (kind) {
    case 'c': return "complex";
    case 'O': return "object (pickled Python objects, which npyflow reads only as weights, never as data)";
    case 'V': return "void/raw bytes (bfloat16 from ml_dtypes is saved this way)";
    case 'S': case 'a': return "byte string";
    case 'U': return "unicode string";
    case 'M': return "datetime";
    case 'm': return "timedelta";
    default: return "";
    }
}

}  // namespace

std::size_t itemsize(dtype t) { return info(t).size; }
std::string_view name(dtype t) { return info(t).name; }

std::string_view name(byte_order o) {
    switch (o) {
    case byte_order::little: return "little";
    case byte_order::big: return "big";
    case byte_order::none: return "none";
    }
    return "?";
}

std::optional<dtype> dtype_from_name(std::string_view numpy_name) {
    for (const auto& d : dtypes) {
        if (d.name == numpy_name) return d.type;
    }
    return std::nullopt;
}

bool is_floating(dtype t) { return info(t).kind == 'f'; }
bool is_signed_integer(dtype t) { return info(t).kind == 'i'; }

dtype_descr parse_descr(std::string_view descr) {
    if (descr.size() < 2) throw error(fmt::format("unknown dtype '{}'", descr));
    const char order_char = descr[0];
    const char kind = descr[1];
    if (order_char != '<' && order_char != '>' && order_char != '|') {
        // '=' (native) never appears in files numpy writes; it would make the file's
        // meaning depend on the machine that reads it.
        throw error(fmt::format("unknown dtype '{}': byte order must be '<', '>' or '|'", descr));
    }
    if (auto what = unsupported_kind(kind); !what.empty()) {
        throw error(fmt::format("unsupported dtype '{}': {} arrays are not supported", descr, what));
    }
    const std::string_view size_text = descr.substr(2);
    for (const auto& d : dtypes) {
        if (d.kind != kind || size_text != std::to_string(d.size)) continue;
        if (d.size == 1) return {d.type, byte_order::none};
        if (order_char == '|') {
            throw error(fmt::format("unknown dtype '{}': a {}-byte type needs '<' or '>'", descr, d.size));
        }
        return {d.type, order_char == '<' ? byte_order::little : byte_order::big};
    }
    throw error(fmt::format("unknown dtype '{}'", descr));
}

std::string descr_string(dtype t, byte_order order) {
    const auto& d = info(t);
    const char order_char = d.size == 1 ? '|' : (order == byte_order::big ? '>' : '<');
    return fmt::format("{}{}{}", order_char, d.kind, d.size);
}

}  // namespace npyflow
