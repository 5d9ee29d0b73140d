#include "request-options.h"

#include "errors.h"

#include <fmt/format.h>

namespace bred {

RequestOptions::RequestOptions(OptionMap options, const std::set<std::string>& known) : options_(std::move(options))
{
    for (const auto& [key, value] : options_)
        if (!known.count(key)) {
            std::string names;
            for (const auto& name : known)
                names += (names.empty() ? "" : ", ") + name;
            throw Error(ErrorCode::InvalidArgs, fmt::format("Unknown option '{}'; this method takes: {}.", key,
                                                            names.empty() ? "none" : names));
        }
}

namespace {

std::string signatureOf(const OptionValue& value)
{
    return std::visit(
        [](const auto& held) -> std::string {
            using Held = std::decay_t<decltype(held)>;
            if constexpr (std::is_same_v<Held, bool>)
                return "b";
            else if constexpr (std::is_same_v<Held, std::string>)
                return "s";
            else if constexpr (std::is_same_v<Held, std::vector<std::string>>)
                return "as";
            else if constexpr (std::is_same_v<Held, std::uint32_t>)
                return "u";
            else if constexpr (std::is_same_v<Held, std::uint64_t>)
                return "t";
            else
                return held.signature;
        },
        value);
}

} // namespace

template <typename T>
std::optional<T> RequestOptions::get(const std::string& key, const char* signature, const char* typeName) const
{
    auto it = options_.find(key);
    if (it == options_.end())
        return std::nullopt;
    if (const T* value = std::get_if<T>(&it->second))
        return *value;
    throw Error(ErrorCode::InvalidArgs, fmt::format("Option '{}' must be {} ({}), not '{}'.", key, typeName, signature,
                                                    signatureOf(it->second)));
}

std::optional<std::string> RequestOptions::string(const std::string& key) const
{
    return get<std::string>(key, "s", "a string");
}

std::optional<bool> RequestOptions::boolean(const std::string& key) const { return get<bool>(key, "b", "a boolean"); }

std::optional<std::vector<std::string>> RequestOptions::strings(const std::string& key) const
{
    return get<std::vector<std::string>>(key, "as", "a list of strings");
}

std::optional<std::uint32_t> RequestOptions::uint32(const std::string& key) const
{
    return get<std::uint32_t>(key, "u", "an unsigned 32-bit number");
}

std::optional<std::uint64_t> RequestOptions::uint64(const std::string& key) const
{
    return get<std::uint64_t>(key, "t", "an unsigned 64-bit number");
}

} // namespace bred
