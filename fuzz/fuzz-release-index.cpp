// A distribution's index (a checksum file or an HTML directory listing),
// downloaded, in which the latest version is looked up. Input: the entry's text
// before the version, a newline, the text after it, a newline, then the index.
#include "catalog.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace bred;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto first = input.find('\n');
    if (first == std::string_view::npos)
        return 0;
    auto second = input.find('\n', first + 1);
    if (second == std::string_view::npos)
        return 0;
    std::string_view before = input.substr(0, first), after = input.substr(first + 1, second - first - 1);
    auto latest = latestVersionInIndex(input.substr(second + 1), before, after);
    if (latest && (latest->empty() || latest->find_first_not_of("0123456789.") != std::string::npos))
        std::abort();
    return 0;
}
