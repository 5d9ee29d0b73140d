#include "method-options.h"

#include "errors.h"

#include <fmt/format.h>

namespace bred {

MethodOptions::MethodOptions(std::map<std::string, sdbus::Variant> options, const std::set<std::string>& known)
    : options_(std::move(options))
{
    for (const auto& [key, value] : options_)
        if (!known.count(key)) {
            std::string names;
            for (const auto& name : known)
                names += (names.empty() ? "" : ", ") + name;
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("Unknown option '{}'; this method takes: {}.", key, names.empty() ? "none" : names));
        }
}

template <typename T>
std::optional<T> MethodOptions::get(const std::string& key, const char* signature, const char* typeName) const
{
    auto it = options_.find(key);
    if (it == options_.end())
        return std::nullopt;
    if (std::string(it->second.peekValueType()) != signature)
        throw Error(ErrorCode::InvalidArgs, fmt::format("Option '{}' must be {} ({}), not '{}'.", key, typeName,
                                                        signature, it->second.peekValueType()));
    return it->second.get<T>();
}

std::optional<std::string> MethodOptions::string(const std::string& key) const
{
    return get<std::string>(key, "s", "a string");
}

std::optional<bool> MethodOptions::boolean(const std::string& key) const { return get<bool>(key, "b", "a boolean"); }

std::optional<std::vector<std::string>> MethodOptions::strings(const std::string& key) const
{
    return get<std::vector<std::string>>(key, "as", "a list of strings");
}

} // namespace bred
