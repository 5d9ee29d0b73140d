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

bool isAbsoluteNormalPath(std::string_view path)
{
    if (path.empty() || path.front() != '/' || path.find_first_of(std::string_view("\0\n", 2)) != std::string_view::npos)
        return false;
    if (path.size() > 1 && path.back() == '/')
        return false;
    // Every component between slashes must be a real name.
    for (std::size_t start = 1; start < path.size();) {
        auto slash = path.find('/', start);
        auto part = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (part.empty() || part == "." || part == "..")
            return false;
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
    }
    return true;
}

} // namespace bred
