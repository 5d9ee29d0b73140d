#include "names.h"

#include <algorithm>
#include <arpa/inet.h>
#include <string>

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
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return isAsciiAlpha(c) || isAsciiDigit(c) || c == '_' || c == '-'; });
}

bool isAbsoluteNormalPath(std::string_view path)
{
    if (path.empty() || path.front() != '/' || hasControlCharacter(path))
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

bool hasControlCharacter(std::string_view text)
{
    return std::any_of(text.begin(), text.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte < 0x20 || byte == 0x7f;
    });
}

bool isBindablePath(std::string_view path)
{
    return isAbsoluteNormalPath(path) && path.find('\\') == std::string_view::npos && path.back() != ' ';
}

bool isValidInterfaceName(std::string_view name)
{
    // IFNAMSIZ is 16 with the terminating NUL.
    if (name.empty() || name.size() > 15 || name == "." || name == "..")
        return false;
    if (std::all_of(name.begin(), name.end(), isAsciiDigit))
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 0x7f && c != '/' && c != ':'; });
}

bool isIpAddress(std::string_view text)
{
    // inet_pton reads up to a NUL: a string with one inside is not an address.
    if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos)
        return false;
    std::string terminated(text);
    unsigned char buffer[16];
    return inet_pton(AF_INET, terminated.c_str(), buffer) == 1 || inet_pton(AF_INET6, terminated.c_str(), buffer) == 1;
}

bool isAddressWithPrefix(std::string_view text)
{
    auto slash = text.find('/');
    if (slash == std::string_view::npos)
        return false;
    std::string_view address = text.substr(0, slash), bits = text.substr(slash + 1);
    if (!isIpAddress(address) || bits.empty() || bits.size() > 3 ||
        !std::all_of(bits.begin(), bits.end(), isAsciiDigit))
        return false;
    int prefix = std::stoi(std::string(bits));
    bool v4 = address.find(':') == std::string_view::npos;
    return prefix <= (v4 ? 32 : 128);
}

bool isEnvironmentAssignment(std::string_view assignment)
{
    auto equals = assignment.find('=');
    if (equals == std::string_view::npos || equals == 0 || isAsciiDigit(assignment.front()))
        return false;
    std::string_view name = assignment.substr(0, equals);
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return isAsciiAlpha(c) || isAsciiDigit(c) || c == '_'; }) &&
           !hasControlCharacter(assignment.substr(equals + 1));
}

std::string osDisplayName(const std::map<std::string, std::string>& osRelease)
{
    for (const char* key : {"PRETTY_NAME", "NAME", "ID"})
        if (auto it = osRelease.find(key); it != osRelease.end() && !it->second.empty())
            return it->second;
    return "-";
}

} // namespace bred
