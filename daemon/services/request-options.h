// The options of a request (a method's a{sv}), as plain values: the bus layer
// converts each variant to an OptionValue, and the parsers read them here,
// where unknown keys and wrong types are InvalidArgs naming the option.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace bred {

// A value of a type no option has, by its D-Bus signature ("i", "a{sv}", ...),
// kept so that the refusal can name it.
struct OtherOptionType {
    std::string signature;
};

using OptionValue =
    std::variant<bool, std::string, std::vector<std::string>, std::uint32_t, std::uint64_t, OtherOptionType>;
using OptionMap = std::map<std::string, OptionValue>;

class RequestOptions {
public:
    // Throws InvalidArgs for a key not in `known`.
    RequestOptions(OptionMap options, const std::set<std::string>& known);

    // nullopt when absent; throws InvalidArgs when of another type.
    std::optional<std::string> string(const std::string& key) const;
    std::optional<bool> boolean(const std::string& key) const;
    std::optional<std::vector<std::string>> strings(const std::string& key) const;
    std::optional<std::uint32_t> uint32(const std::string& key) const;
    std::optional<std::uint64_t> uint64(const std::string& key) const;

private:
    template <typename T>
    std::optional<T> get(const std::string& key, const char* signature, const char* typeName) const;

    OptionMap options_;
};

} // namespace bred
