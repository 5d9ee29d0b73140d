#include "bus-names.h"

#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <systemd/sd-bus.h>

namespace bred::bus {

std::string machinePath(std::string_view name)
{
    char* encoded = nullptr;
    if (sd_bus_path_encode(machinePathPrefix, std::string(name).c_str(), &encoded) < 0)
        throw std::bad_alloc();
    std::unique_ptr<char, decltype(&free)> holder(encoded, free);
    return encoded;
}

std::string jobPath(std::uint32_t id) { return std::string(jobPathPrefix) + "/" + std::to_string(id); }

} // namespace bred::bus
