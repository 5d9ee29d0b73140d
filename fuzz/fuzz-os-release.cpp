// os-release(5) from a tree root inside a container controls, and the ELF
// header of the tree's binaries the architecture is read from.
#include "os-tree.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const auto& [key, value] : bred::parseOsRelease(text))
        if (key.empty())
            std::abort(); // a key is never empty
    bred::architectureFromElfHeader(text);
    return 0;
}
