#include "method-options.h"

namespace bred {

OptionMap toOptionMap(const std::map<std::string, sdbus::Variant>& options)
{
    OptionMap plain;
    for (const auto& [key, value] : options) {
        std::string signature = value.peekValueType();
        if (signature == "b")
            plain.emplace(key, value.get<bool>());
        else if (signature == "s")
            plain.emplace(key, value.get<std::string>());
        else if (signature == "as")
            plain.emplace(key, value.get<std::vector<std::string>>());
        else if (signature == "u")
            plain.emplace(key, value.get<std::uint32_t>());
        else if (signature == "t")
            plain.emplace(key, value.get<std::uint64_t>());
        else
            plain.emplace(key, OtherOptionType{signature});
    }
    return plain;
}

} // namespace bred
