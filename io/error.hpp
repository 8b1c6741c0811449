#pragma once
// The one error type of npyflow. Its message carries the context a user needs to act
// (file, member, layer, row range); the CLI prints it as one line and exits with 1.

#include <stdexcept>
#include <string>
#include <string_view>

namespace npyflow {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Runs fn; an npyflow::error escaping it gets "<where>: " put in front of its message.
template <typename Fn>
decltype(auto) with_context(std::string_view where, Fn&& fn) {
    try {
        return fn();
    } catch (const error& e) {
        throw error(std::string(where) + ": " + e.what());
    }
}

}  // namespace npyflow
