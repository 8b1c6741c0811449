#include "npyflow/io/pickle.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {

std::string_view name(pickle_value::kind k) {
    using enum pickle_value::kind;
    switch (k) {
    case none: return "None";
    case boolean: return "bool";
    case integer: return "int";
    case floating: return "float";
    case string: return "str";
    case bytes: return "bytes";
    case list: return "list";
    case tuple: return "tuple";
    case dict: return "dict";
    case array: return "numeric array";
    case object_array: return "object array";
    case other: return "object";
    }
    return "?";
}

pickle_tree::pickle_tree()
    : values_(std::make_unique<std::deque<pickle_value>>()),
      buffers_(std::make_shared<std::deque<std::vector<std::byte>>>()) {}

namespace {

using kind = pickle_value::kind;

// The callables a pickle may name, and what they build.
enum class callable : std::uint8_t {
    reconstruct,   // numpy.core.multiarray._reconstruct(ndarray, (0,), b'b'), then BUILD with the state
    ndarray,       // only as _reconstruct's first argument
    dtype,         // numpy.dtype('f4', False, True), then BUILD with the byte order
    scalar,        // numpy.core.multiarray.scalar(dtype, bytes): a 0-d array
    frombuffer,    // numpy.core.numeric._frombuffer(buffer, dtype, shape, order): protocol 5
    ordered_dict,  // collections.OrderedDict
    make_list, make_tuple, make_dict, make_bytes,
    encode,             // _codecs.encode(str, 'latin1'): how protocol 2 pickles hold bytes
    rebuild_tensor_v2,  // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
    rebuild_parameter,  // torch._utils._rebuild_parameter(tensor, requires_grad, hooks)
    storage_type,       // torch.FloatStorage and the like
};

struct allowed_global {
    std::string_view module;
    std::string_view name;
    callable what;
};

constexpr std::array<allowed_global, 22> allowlist{{
    {"numpy.core.multiarray", "_reconstruct", callable::reconstruct},
    {"numpy._core.multiarray", "_reconstruct", callable::reconstruct},
    {"numpy.core.multiarray", "scalar", callable::scalar},
    {"numpy._core.multiarray", "scalar", callable::scalar},
    {"numpy.core.numeric", "_frombuffer", callable::frombuffer},
    {"numpy._core.numeric", "_frombuffer", callable::frombuffer},
    {"numpy", "ndarray", callable::ndarray},
    {"numpy", "dtype", callable::dtype},
    {"collections", "OrderedDict", callable::ordered_dict},
    {"builtins", "list", callable::make_list},
    {"builtins", "tuple", callable::make_tuple},
    {"builtins", "dict", callable::make_dict},
    {"builtins", "bytes", callable::make_bytes},
    {"__builtin__", "list", callable::make_list},
    {"__builtin__", "tuple", callable::make_tuple},
    {"__builtin__", "dict", callable::make_dict},
    {"__builtin__", "bytes", callable::make_bytes},
    {"_codecs", "encode", callable::encode},
    {"codecs", "encode", callable::encode},
    {"torch._utils", "_rebuild_tensor_v2", callable::rebuild_tensor_v2},
    {"torch._utils", "_rebuild_parameter", callable::rebuild_parameter},
    {"torch", "", callable::storage_type},  // torch.<Type>Storage: matched by suffix below
}};

std::optional<callable> find_global(std::string_view module, std::string_view global_name) {
    for (const auto& g : allowlist) {
        if (g.what == callable::storage_type) {
            // Every torch.<Type>Storage is let through; the checkpoint reader says which types it reads.
            const bool storage = module == "torch" && global_name.size() > 7 && global_name.ends_with("Storage") &&
                                 global_name.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") ==
                                     std::string_view::npos;
            if (storage) return g.what;
        } else if (g.module == module && g.name == global_name) {
            return g.what;
        }
    }
    return std::nullopt;
}

// What the unpickler knows about the values of kind `other` it made.
struct internal_state {
    enum class tag : std::uint8_t { global, dtype, ndarray_stub, storage };
    static internal_state of(tag what, callable function = callable::ndarray, std::string name = {}) {
        internal_state s;
        s.what = what;
        s.function = function;
        s.name = std::move(name);
        return s;
    }
    tag what = tag::global;
    callable function = callable::ndarray;  // global
    std::string name;                       // global: "module.name"; dtype: 'f4'; storage: its type
    char byte_order = '=';                  // dtype, from its BUILD state
    std::string storage_key;                // storage
    std::uint64_t storage_elements = 0;     // storage
};

std::string opcode_name(std::uint8_t op) {
    switch (op) {
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x82: case 0x83: case 0x84: return "EXT";
    case 0x97: return "NEXT_BUFFER";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 'P': return "PERSID";
    default: return fmt::format("0x{:02x}", op);
    }
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string latin1_to_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) append_utf8(out, static_cast<unsigned char>(c));
    return out;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

class unpickler {
public:
    unpickler(std::span<const std::byte> bytes, const unpickle_options& options) : in_(bytes), options_(options) {}

    pickle_tree run() {
        while (true) {
            op_at_ = pos_;
            const std::uint8_t op = u8();
            if (op == '.') {  // STOP
                tree_.root_ = pop();
                return std::move(tree_);
            }
            step(op);
        }
    }

private:
    // ---- reading the input ----
    [[noreturn]] void fail(std::string_view what) const {
        throw error(fmt::format("pickle: {} (at offset {})", what, op_at_));
    }
    void need(std::uint64_t n, std::string_view what) const {
        if (n > in_.size() - pos_) {
            fail(fmt::format("truncated: {} needs {} bytes, {} remain", what, n, in_.size() - pos_));
        }
    }
    std::uint8_t u8() {
        need(1, "an opcode or its argument");
        return std::to_integer<std::uint8_t>(in_[pos_++]);
    }
    std::uint64_t le(std::size_t width, std::string_view what) {
        need(width, what);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < width; ++i) v |= std::uint64_t{std::to_integer<std::uint8_t>(in_[pos_ + i])} << (8 * i);
        pos_ += width;
        return v;
    }
    std::span<const std::byte> take(std::uint64_t n, std::string_view what) {
        need(n, what);
        const auto s = in_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    std::string_view take_text(std::uint64_t n, std::string_view what) {
        const auto s = take(n, what);
        return {reinterpret_cast<const char*>(s.data()), s.size()};
    }
    // Text protocol arguments end with '\n'.
    std::string_view line(std::string_view what) {
        const auto rest = std::string_view(reinterpret_cast<const char*>(in_.data()) + pos_, in_.size() - pos_);
        const auto end = rest.find('\n');
        if (end == std::string_view::npos) fail(fmt::format("truncated: {} has no end of line", what));
        pos_ += end + 1;
        return rest.substr(0, end);
    }

    // ---- values, stack and memo ----
    pickle_value* make(kind k) {
        if (tree_.values_->size() >= pickle_max_values) {
            fail(fmt::format("the pickle builds more than {} values; npyflow reads weights, not large Python "
                             "data structures", pickle_max_values));
        }
        auto& v = tree_.values_->emplace_back();
        v.what = k;
        return &v;
    }
    pickle_value* make_other(std::string description, internal_state state) {
        auto* v = make(kind::other);
        v->text = std::move(description);
        internal_.emplace(v, std::move(state));
        return v;
    }
    const internal_state* state_of(const pickle_value* v) const {
        const auto it = internal_.find(v);
        return it == internal_.end() ? nullptr : &it->second;
    }
    // Bytes the pickle's calls produce (codecs.encode, array data) count against a budget tied
    // to the input's size, so that reusing one large value many times cannot exhaust memory.
    std::vector<std::byte>& buffer(std::uint64_t size) {
        if (size > budget_) {
            fail(fmt::format("the pickle asks for more memory ({} bytes) than its size justifies", size));
        }
        budget_ -= size;
        return tree_.buffers_->emplace_back(static_cast<std::size_t>(size));
    }

    std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    void push(pickle_value* v) {
        if (stack_.size() >= pickle_max_values) fail("the stack grows past its limit");
        stack_.push_back(v);
    }
    pickle_value* pop() {
        if (stack_.size() <= floor()) fail("stack underflow");
        auto* v = stack_.back();
        stack_.pop_back();
        return v;
    }
    pickle_value* top() {
        if (stack_.size() <= floor()) fail("stack underflow");
        return stack_.back();
    }
    std::vector<pickle_value*> pop_mark() {
        if (marks_.empty()) fail("no MARK to pop to");
        const std::size_t mark = marks_.back();
        marks_.pop_back();
        std::vector<pickle_value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
        stack_.resize(mark);
        return items;
    }
    void memo_put(std::uint64_t index) {
        if (memo_.size() >= pickle_max_values) fail("the memo grows past its limit");
        memo_[index] = top();
    }
    pickle_value* memo_get(std::uint64_t index) {
        const auto it = memo_.find(index);
        if (it == memo_.end()) fail(fmt::format("memo index {} was never stored", index));
        return it->second;
    }

    pickle_value* integer(std::int64_t v) {
        auto* p = make(kind::integer);
        p->integer = v;
        return p;
    }
    pickle_value* boolean(bool v) {
        auto* p = make(kind::boolean);
        p->integer = v ? 1 : 0;
        return p;
    }
    pickle_value* string(std::string text) {
        auto* p = make(kind::string);
        p->text = std::move(text);
        return p;
    }
    pickle_value* bytes(std::span<const std::byte> b) {
        auto* p = make(kind::bytes);
        p->bytes = b;
        return p;
    }
    pickle_value* sequence(kind k, const std::vector<pickle_value*>& items) {
        auto* p = make(k);
        p->items.assign(items.begin(), items.end());
        return p;
    }
    // LONG1/LONG4: little-endian two's complement of any length; npyflow holds 64 bits.
    pickle_value* long_integer(std::span<const std::byte> b) {
        if (b.size() > 8) fail(fmt::format("an integer of {} bytes is too large", b.size()));
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < b.size(); ++i) v |= std::uint64_t{std::to_integer<std::uint8_t>(b[i])} << (8 * i);
        if (!b.empty() && b.size() < 8 && (std::to_integer<std::uint8_t>(b.back()) & 0x80)) {
            v |= ~std::uint64_t{0} << (8 * b.size());  // sign-extend
        }
        return integer(static_cast<std::int64_t>(v));
    }
    std::int64_t text_integer(std::string_view text) {
        if (!text.empty() && text.back() == 'L') text.remove_suffix(1);
        std::int64_t v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
            fail(fmt::format("'{}' is not a 64-bit integer", text));
        }
        return v;
    }

    // ---- the opcodes ----
    void step(std::uint8_t op) {
        switch (op) {
        case 0x80: {  // PROTO
            const auto version = u8();
            if (version > 5) fail(fmt::format("unsupported pickle protocol {} (0 to 5 are known)", version));
            break;
        }
        case 0x95: (void)le(8, "FRAME"); break;  // frames only help buffered readers
        case '(': marks_.push_back(stack_.size()); break;
        case '0':  // POP: pops a MARK when nothing is above it, as Python does
            if (stack_.size() > floor()) stack_.pop_back(); else (void)pop_mark();
            break;
        case '1': (void)pop_mark(); break;  // POP_MARK
        case '2': push(top()); break;       // DUP
        case 'N': push(make(kind::none)); break;
        case 0x88: push(boolean(true)); break;
        case 0x89: push(boolean(false)); break;
        case 'J': push(integer(static_cast<std::int32_t>(static_cast<std::uint32_t>(le(4, "BININT"))))); break;
        case 'K': push(integer(static_cast<std::int64_t>(le(1, "BININT1")))); break;
        case 'M': push(integer(static_cast<std::int64_t>(le(2, "BININT2")))); break;
        case 0x8a: {
            const auto n = le(1, "LONG1");
            push(long_integer(take(n, "LONG1")));
            break;
        }
        case 0x8b: {
            const auto n = le(4, "LONG4");
            push(long_integer(take(n, "LONG4")));
            break;
        }
        case 'I': {  // INT: "01" and "00" are protocol 0's True and False
            const auto text = line("INT");
            if (text == "01" || text == "00") push(boolean(text == "01")); else push(integer(text_integer(text)));
            break;
        }
        case 'L': push(integer(text_integer(line("LONG")))); break;
        case 'G': {
            const auto b = take(8, "BINFLOAT");
            std::uint64_t bits = 0;
            for (auto x : b) bits = (bits << 8) | std::to_integer<std::uint8_t>(x);  // big endian
            auto* p = make(kind::floating);
            p->floating = std::bit_cast<double>(bits);
            push(p);
            break;
        }
        case 'F': {
            const auto text = line("FLOAT");
            double v = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            if (ec != std::errc{} || end != text.data() + text.size()) fail(fmt::format("'{}' is not a float", text));
            auto* p = make(kind::floating);
            p->floating = v;
            push(p);
            break;
        }
        case 'X': push(string(std::string(take_text(le(4, "BINUNICODE"), "BINUNICODE")))); break;
        case 0x8c: push(string(std::string(take_text(le(1, "SHORT_BINUNICODE"), "SHORT_BINUNICODE")))); break;
        case 0x8d: push(string(std::string(take_text(le(8, "BINUNICODE8"), "BINUNICODE8")))); break;
        // Python 2 str: latin-1 text, as Python 3 reads it with encoding='latin1' (numpy's advice).
        case 'T': push(string(latin1_to_utf8(take_text(le(4, "BINSTRING"), "BINSTRING")))); break;
        case 'U': push(string(latin1_to_utf8(take_text(le(1, "SHORT_BINSTRING"), "SHORT_BINSTRING")))); break;
        case 'S': push(string(latin1_to_utf8(python_string_literal(line("STRING"))))); break;
        case 'V': push(string(raw_unicode_escape(line("UNICODE")))); break;
        case 'B': push(bytes(take(le(4, "BINBYTES"), "BINBYTES"))); break;
        case 'C': push(bytes(take(le(1, "SHORT_BINBYTES"), "SHORT_BINBYTES"))); break;
        case 0x8e: push(bytes(take(le(8, "BINBYTES8"), "BINBYTES8"))); break;
        case 0x96: push(bytes(take(le(8, "BYTEARRAY8"), "BYTEARRAY8"))); break;
        case 0x98: (void)top(); break;  // READONLY_BUFFER: no meaning for in-band data
        case ']': push(make(kind::list)); break;
        case ')': push(make(kind::tuple)); break;
        case '}': push(make(kind::dict)); break;
        case 'l': push(sequence(kind::list, pop_mark())); break;
        case 't': push(sequence(kind::tuple, pop_mark())); break;
        case 0x85: case 0x86: case 0x87: {  // TUPLE1-3
            std::vector<pickle_value*> items(static_cast<std::size_t>(op - 0x84));
            for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
            push(sequence(kind::tuple, items));
            break;
        }
        case 'd': {
            auto items = pop_mark();
            auto* d = make(kind::dict);
            set_items(d, items);
            push(d);
            break;
        }
        case 'a': {
            auto* v = pop();
            append(top(), {v});
            break;
        }
        case 'e': {
            auto items = pop_mark();
            append(top(), items);
            break;
        }
        case 's': {
            auto* v = pop();
            auto* k = pop();
            set_items(top(), {k, v});
            break;
        }
        case 'u': {
            auto items = pop_mark();
            set_items(top(), items);
            break;
        }
        case 'q': memo_put(le(1, "BINPUT")); break;
        case 'r': memo_put(le(4, "LONG_BINPUT")); break;
        case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
        case 'p': memo_put(static_cast<std::uint64_t>(text_integer(line("PUT")))); break;
        case 'h': push(memo_get(le(1, "BINGET"))); break;
        case 'j': push(memo_get(le(4, "LONG_BINGET"))); break;
        case 'g': push(memo_get(static_cast<std::uint64_t>(text_integer(line("GET"))))); break;
        case 'c': {
            const auto module = line("GLOBAL");
            const auto global_name = line("GLOBAL");
            push(global(module, global_name));
            break;
        }
        case 0x93: {  // STACK_GLOBAL
            auto* global_name = pop();
            auto* module = pop();
            if (module->what != kind::string || global_name->what != kind::string) {
                fail("STACK_GLOBAL needs two strings");
            }
            push(global(module->text, global_name->text));
            break;
        }
        case 'i': {  // INST: names a class to instantiate; refuse unknown ones by name first
            const auto module = line("INST");
            const auto global_name = line("INST");
            (void)global(module, global_name);
            fail("the INST opcode (an old-style class instance) is not supported");
        }
        case 'R': {
            auto* args = pop();
            auto* function = pop();
            push(call(function, args));
            break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args); for the allowed classes the same as calling them
            auto* args = pop();
            auto* cls = pop();
            push(call(cls, args));
            break;
        }
        case 0x92: {  // NEWOBJ_EX
            auto* kwargs = pop();
            auto* args = pop();
            auto* cls = pop();
            if (kwargs->what != kind::dict || !kwargs->items.empty()) fail("NEWOBJ_EX with keyword arguments");
            push(call(cls, args));
            break;
        }
        case 'b': {
            auto* state = pop();
            build(top(), state);
            break;
        }
        case 'Q': {
            auto* pid = pop();
            push(persistent_load(pid));
            break;
        }
        default:
            if (op == 'P' || op == 'o' || op == 0x97 || (op >= 0x82 && op <= 0x84) || (op >= 0x8f && op <= 0x91)) {
                fail(fmt::format("the {} opcode is not supported", opcode_name(op)));
            }
            fail(fmt::format("unknown opcode 0x{:02x}; not a pickle, or a damaged one", op));
        }
    }

    // ---- protocol 0 text ----
    // A Python 2 str literal as repr() writes it: quoted, with backslash escapes.
    std::string python_string_literal(std::string_view text) {
        if (text.size() < 2 || (text.front() != '\'' && text.front() != '"') || text.back() != text.front()) {
            fail("STRING argument is not a quoted string");
        }
        text = text.substr(1, text.size() - 2);
        std::string out;
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (text[i] != '\\') {
                out.push_back(text[i]);
                continue;
            }
            if (++i == text.size()) fail("STRING ends in a backslash");
            const char c = text[i];
            switch (c) {
            case 'n': out.push_back('\n'); break;
            case 't': out.push_back('\t'); break;
            case 'r': out.push_back('\r'); break;
            case '\\': case '\'': case '"': out.push_back(c); break;
            case 'x': {
                const int hi = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
                const int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
                if (hi < 0 || lo < 0) fail("bad \\x escape in STRING");
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                break;
            }
            default:
                if (c >= '0' && c <= '7') {
                    int v = 0, digits = 0;
                    while (digits < 3 && i < text.size() && text[i] >= '0' && text[i] <= '7') {
                        v = v * 8 + (text[i++] - '0');
                        ++digits;
                    }
                    --i;
                    out.push_back(static_cast<char>(v & 0xFF));
                } else {
                    fail(fmt::format("unknown escape \\{} in STRING", c));
                }
            }
        }
        return out;
    }

    // raw-unicode-escape: latin-1 bytes with \uXXXX and \UXXXXXXXX escapes.
    std::string raw_unicode_escape(std::string_view text) {
        std::string out;
        for (std::size_t i = 0; i < text.size(); ++i) {
            const std::size_t digits = text[i] == '\\' && i + 1 < text.size()
                                           ? (text[i + 1] == 'u' ? 4 : text[i + 1] == 'U' ? 8 : 0)
                                           : 0;
            if (digits == 0 || i + 2 + digits > text.size()) {
                append_utf8(out, static_cast<unsigned char>(text[i]));
                continue;
            }
            std::uint32_t cp = 0;
            for (std::size_t d = 0; d < digits; ++d) {
                const int h = hex_digit(text[i + 2 + d]);
                if (h < 0) fail("bad \\u escape in UNICODE");
                cp = cp * 16 + static_cast<std::uint32_t>(h);
            }
            if (cp > 0x10FFFF) fail("code point out of range in UNICODE");
            append_utf8(out, cp);
            i += 1 + digits;
        }
        return out;
    }

    // ---- containers ----
    void append(pickle_value* target, const std::vector<pickle_value*>& items) {
        if (target->what != kind::list) fail(fmt::format("APPEND to a {}, not a list", name(target->what)));
        target->items.insert(target->items.end(), items.begin(), items.end());
    }
    void set_items(pickle_value* target, const std::vector<pickle_value*>& items) {
        if (target->what != kind::dict) fail(fmt::format("SETITEM on a {}, not a dict", name(target->what)));
        if (items.size() % 2 != 0) fail("SETITEMS with a key and no value");
        target->items.insert(target->items.end(), items.begin(), items.end());
    }

    // ---- globals and calls ----
    pickle_value* global(std::string_view module, std::string_view global_name) {
        const auto found = find_global(module, global_name);
        const std::string full = fmt::format("{}.{}", module, global_name);
        if (!found) {
            // The one refusal a user sees for a pickle with code in it: no offset, it would not help.
            // A module pickled whole (torch.save(model)) is the common case with a fix.
            const bool model = module.starts_with("torch.nn.") || module.starts_with("torchvision.") ||
                               module == "__main__";
            throw error(fmt::format("the pickle asks for '{}', which is not an array, list, tuple or dict; npyflow "
                                    "loads only numpy's and PyTorch's arrays and never runs code{}",
                                    full, model ? " (a whole model saved with torch.save(model)? save "
                                                  "model.state_dict() instead)" : ""));
        }
        return make_other(full, internal_state::of(internal_state::tag::global, *found, full));
    }

    const internal_state& global_of(const pickle_value* v, std::string_view what) {
        const auto* s = state_of(v);
        if (s == nullptr || s->what != internal_state::tag::global) {
            fail(fmt::format("{} calls a {}, not one of the allowed functions", what, name(v->what)));
        }
        return *s;
    }

    const std::vector<const pickle_value*>& arguments(const pickle_value* args, std::size_t min, std::size_t max,
                                                      std::string_view function) {
        if (args->what != kind::tuple) fail(fmt::format("{} is called with a {}, not a tuple", function, name(args->what)));
        if (args->items.size() < min || args->items.size() > max) {
            fail(fmt::format("{} is called with {} arguments", function, args->items.size()));
        }
        return args->items;
    }

    pickle_value* call(pickle_value* function, pickle_value* args) {
        const auto& g = global_of(function, "REDUCE");
        const std::string& fname = g.name;
        switch (g.function) {
        case callable::reconstruct: {
            const auto& a = arguments(args, 3, 3, fname);
            const auto* cls = state_of(a[0]);
            if (cls == nullptr || cls->what != internal_state::tag::global || cls->function != callable::ndarray) {
                fail(fmt::format("{} of something other than numpy.ndarray", fname));
            }
            return make_other("a numpy array without its state", internal_state::of(internal_state::tag::ndarray_stub));
        }
        case callable::dtype: {
            const auto& a = arguments(args, 1, 3, fname);
            if (a[0]->what != kind::string) fail("numpy.dtype of something other than a type name");
            return make_other(fmt::format("numpy.dtype('{}')", a[0]->text),
                              internal_state::of(internal_state::tag::dtype, callable::dtype, a[0]->text));
        }
        case callable::scalar: {
            const auto& a = arguments(args, 2, 2, fname);
            return numeric_array(a[0], {}, false, a[1], fname);
        }
        case callable::frombuffer: {
            const auto& a = arguments(args, 4, 4, fname);
            if (a[3]->what != kind::string || (a[3]->text != "C" && a[3]->text != "F")) {
                fail("_frombuffer's order is not 'C' or 'F'");
            }
            return numeric_array(a[1], shape_of(a[2]), a[3]->text == "F", a[0], fname);
        }
        case callable::ordered_dict:
        case callable::make_dict: {
            const auto& a = arguments(args, 0, 1, fname);
            auto* d = make(kind::dict);
            if (!a.empty()) {
                if (a[0]->what != kind::list && a[0]->what != kind::tuple) fail(fmt::format("{} of a {}", fname, name(a[0]->what)));
                for (const auto* pair : a[0]->items) {
                    if ((pair->what != kind::tuple && pair->what != kind::list) || pair->items.size() != 2) {
                        fail(fmt::format("{} of something other than (key, value) pairs", fname));
                    }
                    d->items.insert(d->items.end(), pair->items.begin(), pair->items.end());
                }
            }
            return d;
        }
        case callable::make_list:
        case callable::make_tuple: {
            const auto& a = arguments(args, 0, 1, fname);
            auto* s = make(g.function == callable::make_list ? kind::list : kind::tuple);
            if (!a.empty()) {
                if (a[0]->what != kind::list && a[0]->what != kind::tuple) fail(fmt::format("{} of a {}", fname, name(a[0]->what)));
                s->items = a[0]->items;
            }
            return s;
        }
        case callable::make_bytes: {
            (void)arguments(args, 0, 0, fname);  // protocol 2 pickles b'' as bytes()
            return bytes({});
        }
        case callable::encode: return encode(arguments(args, 1, 2, fname));
        case callable::rebuild_tensor_v2: return rebuild_tensor(arguments(args, 6, 7, fname));
        case callable::rebuild_parameter: {
            const auto& a = arguments(args, 3, 3, fname);
            if (a[0]->what != kind::array) fail("torch._utils._rebuild_parameter of something other than a tensor");
            return const_cast<pickle_value*>(a[0]);  // a Parameter is its tensor; values are ours to share
        }
        case callable::ndarray:
        case callable::storage_type: break;
        }
        fail(fmt::format("{} cannot be called", fname));
    }

    // _codecs.encode(text, 'latin1'): every code point below 256 becomes one byte.
    pickle_value* encode(const std::vector<const pickle_value*>& a) {
        if (a[0]->what != kind::string) fail("_codecs.encode of something other than a str");
        if (a.size() == 2 && (a[1]->what != kind::string || (a[1]->text != "latin1" && a[1]->text != "latin-1"))) {
            fail("_codecs.encode with an encoding other than latin1");
        }
        const std::string& text = a[0]->text;
        auto& out = buffer(text.size());
        std::size_t n = 0;
        for (std::size_t i = 0; i < text.size(); ++i) {
            const auto c = static_cast<unsigned char>(text[i]);
            unsigned cp = c;
            if (c >= 0x80) {  // latin-1 only needs two-byte sequences, lead byte C2 or C3
                if ((c != 0xC2 && c != 0xC3) || i + 1 == text.size()) fail("_codecs.encode: text is not latin-1");
                cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(text[++i]) & 0x3Fu);
            }
            out[n++] = static_cast<std::byte>(cp);
        }
        out.resize(n);
        return bytes(out);
    }

    std::vector<std::uint64_t> shape_of(const pickle_value* v) {
        if (v->what != kind::tuple && v->what != kind::list) fail(fmt::format("array shape is a {}, not a tuple", name(v->what)));
        if (v->items.size() > npy_max_ndim) {
            fail(fmt::format("array shape has {} dimensions, more than numpy's limit of {}", v->items.size(), npy_max_ndim));
        }
        std::vector<std::uint64_t> shape;
        for (const auto* d : v->items) {
            if (d->what != kind::integer || d->integer < 0) fail("array shape holds something other than non-negative integers");
            shape.push_back(static_cast<std::uint64_t>(d->integer));
        }
        return shape;
    }

    // The bytes of an array's data: bytes, or a latin-1 str (Python 2 pickles read as Python 3 does).
    std::span<const std::byte> data_bytes(const pickle_value* v) {
        if (v->what == kind::bytes) return v->bytes;
        if (v->what == kind::string) return encode({v})->bytes;
        fail(fmt::format("array data is a {}, not bytes", name(v->what)));
    }

    struct resolved_dtype {
        bool object = false;
        dtype_descr descr{};
    };
    resolved_dtype resolve_dtype(const pickle_value* v) {
        const auto* s = state_of(v);
        if (s == nullptr || s->what != internal_state::tag::dtype) fail(fmt::format("array dtype is a {}, not a numpy.dtype", name(v->what)));
        if (s->name.starts_with('O')) return {true, {}};
        // numpy pickles a dtype as its kind and size ('f4') and the byte order apart; '=' (native) is
        // read as little endian, the order of every machine npyflow runs on.
        const char order = s->byte_order == '>' ? '>' : s->byte_order == '|' ? '|' : '<';
        try {
            return {false, parse_descr(fmt::format("{}{}", order, s->name))};
        } catch (const error& e) {
            fail(e.what());
        }
    }

    // A numeric array: checks the data against shape and dtype, then copies it into a buffer the
    // array owns, in C order and little endian.
    pickle_value* numeric_array(const pickle_value* dtype_value, std::vector<std::uint64_t> shape, bool fortran,
                                const pickle_value* data, std::string_view what) {
        const auto d = resolve_dtype(dtype_value);
        if (d.object) fail(fmt::format("{} of dtype object", what));
        return finish_numeric(make(kind::array), d.descr, std::move(shape), fortran, data_bytes(data));
    }

    pickle_value* finish_numeric(pickle_value* target, dtype_descr d, std::vector<std::uint64_t> shape, bool fortran,
                                 std::span<const std::byte> data) {
        try {
            check_numpy_size(d.type, shape);
        } catch (const error& e) {
            fail(e.what());
        }
        npy_header header;
        header.type = d.type;
        header.order = d.order;
        header.fortran_order = fortran;
        header.shape = std::move(shape);
        if (data.size() != header.data_bytes()) {
            fail(fmt::format("a numpy array of shape {} {} needs {} bytes, the pickle holds {}",
                             format_shape(header.shape), npyflow::name(header.type), header.data_bytes(), data.size()));
        }
        auto& owned = buffer(data.size());
        const npy_array stored(header, data, nullptr, "pickle");
        stored.copy_rows(0, stored.rows(), owned);
        header.fortran_order = false;
        if (header.order == byte_order::big) header.order = byte_order::little;
        target->what = kind::array;
        target->array.emplace(std::move(header), std::span<const std::byte>(owned), tree_.buffers_, "");
        return target;
    }

    // numpy's ndarray.__setstate__: (version, shape, dtype, is_fortran, data), version optional.
    void build_ndarray(pickle_value* target, const pickle_value* state) {
        if (state->what != kind::tuple || (state->items.size() != 4 && state->items.size() != 5)) {
            fail("a numpy array's state is not (version, shape, dtype, is_fortran, data)");
        }
        const auto& s = state->items;
        const std::size_t at = s.size() == 5 ? 1 : 0;
        auto shape = shape_of(s[at]);
        const auto* fortran = s[at + 2];
        if (fortran->what != kind::boolean && fortran->what != kind::integer) fail("a numpy array's is_fortran is not a bool");
        const auto d = resolve_dtype(s[at + 1]);
        const auto* data = s[at + 3];
        if (!d.object) {
            internal_.erase(target);
            finish_numeric(target, d.descr, std::move(shape), fortran->integer != 0, data_bytes(data));
            return;
        }
        // Object arrays pickle their elements as a list, in C order whatever their layout.
        if (data->what != kind::list) fail(fmt::format("an object array's data is a {}, not a list", name(data->what)));
        std::uint64_t count = 1;
        for (auto dim : shape) {
            if (__builtin_mul_overflow(count, dim, &count)) fail(fmt::format("object array shape {} overflows", format_shape(shape)));
        }
        if (count != data->items.size()) {
            fail(fmt::format("an object array of shape {} holds {} elements, not {}", format_shape(shape),
                             data->items.size(), count));
        }
        internal_.erase(target);
        target->what = kind::object_array;
        target->text.clear();
        target->shape = std::move(shape);
        target->items = data->items;
    }

    void build(pickle_value* target, const pickle_value* state) {
        const auto* s = state_of(target);
        if (s != nullptr && s->what == internal_state::tag::ndarray_stub) return build_ndarray(target, state);
        if (s != nullptr && s->what == internal_state::tag::dtype) {
            // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
            if (state->what != kind::tuple || state->items.size() < 5 || state->items[1]->what != kind::string ||
                state->items[1]->text.size() != 1) {
                fail("a numpy.dtype's state is not (version, byteorder, ...)");
            }
            if (state->items[2]->what != kind::none || state->items[3]->what != kind::none) {
                fail("unsupported dtype: structured and subarray dtypes are not supported");
            }
            internal_[target].byte_order = state->items[1]->text[0];
            return;
        }
        // An OrderedDict's attributes (a state_dict's _metadata): nothing npyflow needs.
        if (target->what == kind::dict) return;
        fail(fmt::format("BUILD on a {}", target->what == kind::other ? target->text : std::string(name(target->what))));
    }

    // ---- torch ----
    // torch.save's persistent ids: ('storage', torch.FloatStorage, key, location, element count).
    pickle_value* persistent_load(const pickle_value* pid) {
        if (!options_.torch_tensor) {
            fail("the pickle refers to PyTorch storages kept outside it (BINPERSID); only a torch.save zip holds them");
        }
        if (pid->what != kind::tuple || pid->items.size() != 5 || pid->items[0]->what != kind::string ||
            pid->items[0]->text != "storage" || pid->items[2]->what != kind::string ||
            pid->items[4]->what != kind::integer || pid->items[4]->integer < 0) {
            fail("a persistent id that is not ('storage', type, key, location, size)");
        }
        const auto* type = state_of(pid->items[1]);
        if (type == nullptr || type->what != internal_state::tag::global || type->function != callable::storage_type) {
            fail("a persistent storage whose type is not a torch storage class");
        }
        auto storage = internal_state::of(internal_state::tag::storage, callable::storage_type,
                                          type->name.substr(type->name.rfind('.') + 1));
        storage.storage_key = pid->items[2]->text;
        storage.storage_elements = static_cast<std::uint64_t>(pid->items[4]->integer);
        return make_other(fmt::format("a torch storage '{}'", storage.storage_key), std::move(storage));
    }

    pickle_value* rebuild_tensor(const std::vector<const pickle_value*>& a) {
        const auto* storage = state_of(a[0]);
        if (storage == nullptr || storage->what != internal_state::tag::storage) {
            fail("torch._utils._rebuild_tensor_v2 of something other than a storage");
        }
        if (a[1]->what != kind::integer || a[1]->integer < 0) fail("a tensor's storage offset is not a non-negative int");
        torch_tensor_request request;
        request.storage_type = storage->name;
        request.storage_key = storage->storage_key;
        request.storage_elements = storage->storage_elements;
        request.offset = static_cast<std::uint64_t>(a[1]->integer);
        request.size = shape_of(a[2]);
        request.stride = shape_of(a[3]);
        if (request.size.size() != request.stride.size()) {
            fail(fmt::format("a tensor has {} sizes and {} strides", request.size.size(), request.stride.size()));
        }
        auto* tensor = make(kind::array);
        tensor->array.emplace(options_.torch_tensor(request));
        return tensor;
    }

    std::span<const std::byte> in_;
    const unpickle_options& options_;
    std::size_t pos_ = 0;
    std::size_t op_at_ = 0;
    std::vector<pickle_value*> stack_;
    std::vector<std::size_t> marks_;
    std::unordered_map<std::uint64_t, pickle_value*> memo_;
    std::unordered_map<const pickle_value*, internal_state> internal_;
    pickle_tree tree_;
    // Data copies: each array's bytes once, a str's bytes once more for codecs.encode.
    std::uint64_t budget_ = 3 * std::uint64_t{in_.size()} + (std::uint64_t{1} << 20);
};

pickle_tree unpickle(std::span<const std::byte> bytes, const unpickle_options& options) {
    return unpickler(bytes, options).run();
}

}  // namespace npyflow
