// Bus names, object paths and interfaces of the contract.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bred::bus {

inline constexpr const char* serviceName = "org.bredos.machine1";
inline constexpr const char* managerPath = "/org/bredos/machine1";
inline constexpr const char* managerInterface = "org.bredos.machine1.Manager";
inline constexpr const char* machineInterface = "org.bredos.machine1.Machine";
inline constexpr const char* jobInterface = "org.bredos.machine1.Job";
inline constexpr const char* machinePathPrefix = "/org/bredos/machine1/machine";
inline constexpr const char* jobPathPrefix = "/org/bredos/machine1/job";

// ListMachinesEx's flag: measure again the disk usage that is unknown or older than a minute.
inline constexpr std::uint64_t listMachinesMeasureDiskUsage = 1;

// "/org/bredos/machine1/machine/<label>", the label escaped as sd_bus_path_encode() does.
std::string machinePath(std::string_view name);
std::string jobPath(std::uint32_t id);

} // namespace bred::bus
