// The a{sv} options of a method call, checked: unknown keys and wrong types
// are InvalidArgs with a message naming the option.
#pragma once

#include <map>
#include <optional>
#include <sdbus-c++/Types.h>
#include <set>
#include <string>
#include <vector>

namespace bred {

class MethodOptions {
public:
    MethodOptions(std::map<std::string, sdbus::Variant> options, const std::set<std::string>& known);

    std::optional<std::string> string(const std::string& key) const;
    std::optional<bool> boolean(const std::string& key) const;
    std::optional<std::vector<std::string>> strings(const std::string& key) const;

private:
    template <typename T>
    std::optional<T> get(const std::string& key, const char* signature, const char* typeName) const;

    std::map<std::string, sdbus::Variant> options_;
};

} // namespace bred
