#include "names.h"

#include <algorithm>

namespace bred {
namespace {

bool isAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }

bool isValidLabel(std::string_view label)
{
    if (label.empty() || label.front() == '-' || label.back() == '-')
        return false;
    return std::all_of(label.begin(), label.end(),
                       [](char c) { return isAsciiAlpha(c) || isAsciiDigit(c) || c == '-'; });
}

} // namespace

bool isValidMachineName(std::string_view name)
{
    if (name.empty() || name.size() > 64)
        return false;
    std::string_view rest = name;
    for (;;) {
        auto dot = rest.find('.');
        if (!isValidLabel(rest.substr(0, dot)))
            return false;
        if (dot == std::string_view::npos)
            return true;
        rest.remove_prefix(dot + 1);
    }
}

bool isValidUserName(std::string_view name)
{
    if (name.empty() || name.size() > 31)
        return false;
    if (!isAsciiAlpha(name.front()) && name.front() != '_')
        return false;
    // The first character is not a digit, so the name cannot be all digits.
    return std::all_of(name.begin(), name.end(), [](char c) {
        return isAsciiAlpha(c) || isAsciiDigit(c) || c == '_' || c == '-';
    });
}

} // namespace bred
