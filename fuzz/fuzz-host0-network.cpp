// The host0 .network file inside a container's tree (root there may rewrite
// it); what reads back valid must also write and read back the same.
#include "container-network.h"
#include "errors.h"

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace bred;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto network = parseHost0NetworkFile(std::string(reinterpret_cast<const char*>(data), size));
    if (!network)
        return 0;
    try {
        validateContainerNetwork(*network);
    } catch (const Error&) {
        return 0;
    }
    if (parseHost0NetworkFile(host0NetworkFile(*network)) != network)
        std::abort();
    return 0;
}
