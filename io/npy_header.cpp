#include "npyflow/io/npy_header.hpp"

#include "npyflow/io/file_format.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {
namespace {

constexpr std::string_view magic = "\x93NUMPY";

// A value in the header dict, as far as we need to tell values apart.
struct literal {
    enum class kind { string, boolean, tuple, list, other };
    kind what = kind::other;
    std::string_view text;               // the literal as written
    std::vector<std::string_view> items;  // tuple items, trimmed
    bool truth = false;
};

// Recursive-descent reader for the subset of Python literals numpy writes in headers.
class header_reader {
public:
    explicit header_reader(std::string_view text) : text_(text) {}

    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                       text_[pos_] == '\r')) {
            ++pos_;
        }
    }
    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }

    bool accept(char c) {
        skip_space();
        if (peek() != c) return false;
        ++pos_;
        return true;
    }
    void expect(char c, std::string_view what) {
        if (!accept(c)) fail(fmt::format("expected {}", what));
    }

    [[noreturn]] void fail(std::string_view what) const {
        throw error(fmt::format("npy header is not a valid dict literal: {} at offset {}", what, pos_));
    }

    std::string_view string() {
        skip_space();
        const char quote = peek();
        if (quote != '\'' && quote != '"') fail("expected a quoted string");
        const std::size_t start = ++pos_;
        while (!at_end() && text_[pos_] != quote) {
            if (text_[pos_] == '\\') fail("escape sequence in string");
            ++pos_;
        }
        if (at_end()) fail("unterminated string");
        return text_.substr(start, pos_++ - start);
    }

    literal value() {
        skip_space();
        literal v;
        const std::size_t start = pos_;
        const char c = peek();
        if (c == '\'' || c == '"') {
            v.what = literal::kind::string;
            v.text = string();
            return v;
        }
        if (c == '(') {
            ++pos_;
            v.what = literal::kind::tuple;
            bool saw_comma = false;
            while (!accept(')')) {
                v.items.push_back(scalar());
                if (accept(',')) {
                    saw_comma = true;
                } else if (peek() != ')') {
                    fail("expected ',' or ')' in tuple");
                }
            }
            // "(3)" is the integer 3 in Python, not a tuple.
            if (v.items.size() == 1 && !saw_comma) v.what = literal::kind::other;
            v.text = text_.substr(start, pos_ - start);
            return v;
        }
        if (c == '[' || c == '{') {
            v.what = c == '[' ? literal::kind::list : literal::kind::other;
            skip_bracketed();
            v.text = text_.substr(start, pos_ - start);
            return v;
        }
        v.text = scalar();
        if (v.text == "True" || v.text == "False") {
            v.what = literal::kind::boolean;
            v.truth = v.text == "True";
        }
        return v;
    }

private:
    // A bare token: a number or a name, up to the next delimiter.
    std::string_view scalar() {
        skip_space();
        const std::size_t start = pos_;
        while (!at_end() && std::strchr(",:(){}[] \t\r\n'\"", text_[pos_]) == nullptr) ++pos_;
        if (pos_ == start) fail("expected a value");
        return text_.substr(start, pos_ - start);
    }

    void skip_bracketed() {
        int depth = 0;
        do {
            if (at_end()) fail("unbalanced brackets");
            const char c = text_[pos_];
            if (c == '\'' || c == '"') {
                string();
                continue;
            }
            if (c == '[' || c == '(' || c == '{') ++depth;
            if (c == ']' || c == ')' || c == '}') --depth;
            ++pos_;
        } while (depth > 0);
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

std::uint64_t parse_dimension(std::string_view text) {
    std::string_view digits = text;
    // Files written by Python 2 numpy spell dimensions as "3L"; numpy still reads them.
    if (!digits.empty() && digits.back() == 'L') digits.remove_suffix(1);
    if (!digits.empty() && digits.front() == '-' && digits.size() > 1 &&
        std::all_of(digits.begin() + 1, digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        throw error(fmt::format("negative dimension {} in shape", text));
    }
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || end != digits.data() + digits.size() || digits.front() == '+') {
        throw error(fmt::format("dimension '{}' in shape is not an integer", text));
    }
    if (ec == std::errc::result_out_of_range) throw error(fmt::format("dimension {} in shape is too large", text));
    return static_cast<std::uint64_t>(value);
}

std::uint32_t read_le(std::span<const std::byte> bytes, std::size_t offset, std::size_t width) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < width; ++i) {
        v |= static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(bytes[offset + i])) << (8 * i);
    }
    return v;
}

}  // namespace

std::uint64_t npy_header::element_count() const {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;  // cannot overflow: checked by parse_npy_header
    return n;
}

std::uint64_t npy_header::data_bytes() const { return element_count() * itemsize(type); }

bool npy_header::is_c_contiguous() const {
    return !fortran_order || std::count_if(shape.begin(), shape.end(), [](auto d) { return d > 1; }) <= 1;
}

bool npy_header::is_native_layout() const { return order != byte_order::big && is_c_contiguous(); }

namespace {

// The header's fields as written, before its descr is interpreted.
struct header_fields {
    npy_header header;  // all but type and order
    std::string descr;
};

header_fields parse_fields(std::span<const std::byte> prefix, std::uint64_t total_size) {
    if (prefix.size() < magic.size() || std::memcmp(prefix.data(), magic.data(), magic.size()) != 0) {
        const file_format format = sniff_format(prefix);
        throw error(fmt::format("not an .npy file (bad magic; expected \\x93NUMPY){}",
                                format == file_format::unknown ? "" : fmt::format(": it is {}", describe(format))));
    }
    if (prefix.size() < 10) throw error(fmt::format("file too short for an .npy header ({} bytes)", total_size));

    header_fields f;
    npy_header& h = f.header;
    const auto major = std::to_integer<int>(prefix[6]);
    const auto minor = std::to_integer<int>(prefix[7]);
    if ((major != 1 && major != 2 && major != 3) || minor != 0) {
        throw error(fmt::format("unsupported .npy format version {}.{} (1.0, 2.0 and 3.0 are known)", major, minor));
    }
    h.version = major;
    const std::size_t length_width = major == 1 ? 2 : 4;
    if (prefix.size() < 8 + length_width) {
        throw error(fmt::format("file too short for an .npy header ({} bytes)", total_size));
    }
    const std::uint64_t header_length = read_le(prefix, 8, length_width);
    const std::uint64_t header_start = 8 + length_width;
    if (header_start + header_length > total_size) {
        throw error(fmt::format("header length {} runs past the end of the file ({} bytes)", header_length,
                                total_size));
    }
    if (header_length > npy_max_header_length) {
        throw error(fmt::format("header length {} is over numpy's limit of {} bytes", header_length,
                                npy_max_header_length));
    }
    if (prefix.size() < header_start + header_length) {
        throw error("internal: header prefix shorter than the header");  // caller passed too few bytes
    }
    h.data_offset = header_start + header_length;

    const std::string_view text(reinterpret_cast<const char*>(prefix.data() + header_start), header_length);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        // Every valid header of a supported dtype is ASCII; v1/v2 are latin-1 and v3 UTF-8,
        // which only matter for structured dtypes' field names.
        if (c >= 0x80 || (c < 0x20 && c != '\n' && c != '\t' && c != '\r')) {
            throw error(fmt::format("npy header has a non-ASCII or control byte 0x{:02x} at offset {}", c, i));
        }
    }

    header_reader in(text);
    std::optional<literal> descr, fortran, shape;
    in.expect('{', "'{' at the start of the header");
    while (!in.accept('}')) {
        const std::string_view key = in.string();
        in.expect(':', "':' after a key");
        literal v = in.value();
        std::optional<literal>* slot = key == "descr"           ? &descr
                                       : key == "fortran_order" ? &fortran
                                       : key == "shape"         ? &shape
                                                                : nullptr;
        if (slot == nullptr) throw error(fmt::format("npy header has an unexpected key '{}'", key));
        if (slot->has_value()) throw error(fmt::format("npy header has the key '{}' twice", key));
        *slot = v;
        if (!in.accept(',')) {
            in.expect('}', "',' or '}' after a value");
            break;
        }
    }
    in.skip_space();
    if (!in.at_end()) in.fail("unexpected text after the dict");

    for (auto [slot, key] : {std::pair{&descr, "descr"}, {&fortran, "fortran_order"}, {&shape, "shape"}}) {
        if (!slot->has_value()) throw error(fmt::format("npy header lacks the key '{}'", key));
    }

    if (descr->what == literal::kind::list) {
        throw error("unsupported dtype: structured arrays (a list of fields) are not supported");
    }
    if (descr->what != literal::kind::string) {
        throw error(fmt::format("npy header 'descr' must be a string, got {}", descr->text));
    }
    if (fortran->what != literal::kind::boolean) {
        throw error(fmt::format("npy header 'fortran_order' must be True or False, got {}", fortran->text));
    }
    h.fortran_order = fortran->truth;

    if (shape->what != literal::kind::tuple) {
        throw error(fmt::format("npy header 'shape' must be a tuple of integers, got {}", shape->text));
    }
    if (shape->items.size() > npy_max_ndim) {
        throw error(fmt::format("shape has {} dimensions, more than numpy's limit of {}", shape->items.size(),
                                npy_max_ndim));
    }
    for (auto item : shape->items) h.shape.push_back(parse_dimension(item));
    f.descr = std::string(descr->text);
    return f;
}

}  // namespace

npy_header parse_npy_header(std::span<const std::byte> prefix, std::uint64_t total_size) {
    auto f = parse_fields(prefix, total_size);
    const auto d = parse_descr(f.descr);
    f.header.type = d.type;
    f.header.order = d.order;
    check_numpy_size(f.header.type, f.header.shape);
    return std::move(f.header);
}

npy_object_header parse_object_npy_header(std::span<const std::byte> prefix, std::uint64_t total_size) {
    auto f = parse_fields(prefix, total_size);
    if (f.descr != "|O") throw error(fmt::format("not an object array: its dtype is '{}', not '|O'", f.descr));
    check_numpy_size(dtype::uint64, f.header.shape);  // numpy holds one pointer per element
    return {f.header.fortran_order, std::move(f.header.shape), f.header.version, f.header.data_offset};
}

bool is_object_npy(std::span<const std::byte> prefix) {
    try {
        (void)parse_object_npy_header(prefix, prefix.size());
        return true;
    } catch (const error&) {
        return false;
    }
}


void check_numpy_size(dtype type, const std::vector<std::uint64_t>& shape) {
    // numpy's own rule (PyArray_NewFromDescr): the item size times every non-zero dimension
    // must fit in a signed 64-bit size, even for an empty array.
    std::uint64_t bytes = itemsize(type);
    for (auto dim : shape) {
        if (dim == 0) continue;
        if (__builtin_mul_overflow(bytes, dim, &bytes) || bytes > std::uint64_t{std::numeric_limits<std::int64_t>::max()}) {
            throw error(fmt::format("shape {} of {} is too big for numpy: {} bytes per element times its non-zero "
                                    "dimensions overflows 63 bits",
                                    format_shape(shape), name(type), itemsize(type)));
        }
    }
}

std::size_t npy_prefix_length(std::span<const std::byte> preamble) {
    if (preamble.size() < 10) return preamble.size();
    const bool v1 = std::to_integer<int>(preamble[6]) == 1;
    if (!v1 && preamble.size() < 12) return preamble.size();
    const std::uint64_t header_start = v1 ? 10 : 12;
    const std::uint64_t length = header_start + read_le(preamble, 8, v1 ? 2 : 4);
    return static_cast<std::size_t>(std::min<std::uint64_t>(length, npy_max_prefix_length));
}

std::string format_shape(const std::vector<std::uint64_t>& shape) {
    if (shape.size() == 1) return fmt::format("({},)", shape[0]);
    return fmt::format("({})", fmt::join(shape, ", "));
}

std::string format_npy_header(dtype type, const std::vector<std::uint64_t>& shape, bool fortran_order,
                              byte_order order) {
    check_numpy_size(type, shape);
    std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}", descr_string(type, order),
                                   fortran_order ? "True" : "False", format_shape(shape));
    const std::size_t preamble = magic.size() + 2 + 2;
    const std::size_t total = (preamble + dict.size() + 1 + 63) / 64 * 64;
    dict.append(total - preamble - dict.size() - 1, ' ');
    dict.push_back('\n');
    if (dict.size() > 0xFFFF) throw error("internal: npy header too long for version 1.0");

    std::string out(magic);
    out.push_back('\x01');
    out.push_back('\x00');
    out.push_back(static_cast<char>(dict.size() & 0xFF));
    out.push_back(static_cast<char>(dict.size() >> 8));
    return out + dict;
}

}  // namespace npyflow
