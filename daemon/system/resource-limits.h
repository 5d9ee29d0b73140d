// A container's resource limits, as SetLimits takes them and systemd applies
// them to its unit: one table of their names, and how each becomes a unit
// setting (for unit files and drop-ins) and a unit property (for
// StartTransientUnit and SetUnitProperties).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bred {

// 0 is "not set" for each: the unit's default.
struct ResourceLimits {
    std::uint64_t memoryMax = 0, memoryHigh = 0; // bytes
    std::uint64_t cpuQuota = 0;                  // percent of one CPU; over 100 for several
    std::uint64_t cpuWeight = 0, ioWeight = 0;   // 1 to 10000
    std::uint64_t tasksMax = 0;
    bool operator==(const ResourceLimits&) const = default;
};

// A limit by its name, which is systemd's unit setting and the key of SetLimits and Limits.
struct ResourceLimitKey {
    const char* name;
    std::uint64_t ResourceLimits::*value;
    bool percent; // CPUQuota: a D-Bus 'u' of percent; the others are 't'
};
inline constexpr std::array<ResourceLimitKey, 6> resourceLimitKeys{{
    {"MemoryMax", &ResourceLimits::memoryMax, false},
    {"MemoryHigh", &ResourceLimits::memoryHigh, false},
    {"CPUQuota", &ResourceLimits::cpuQuota, true},
    {"CPUWeight", &ResourceLimits::cpuWeight, false},
    {"IOWeight", &ResourceLimits::ioWeight, false},
    {"TasksMax", &ResourceLimits::tasksMax, false},
}};

// The key called `name`, or nullptr.
const ResourceLimitKey* findResourceLimitKey(const std::string& name);

// Highest CPUQuota taken, in percent: 10000 CPUs, within what systemd parses.
inline constexpr std::uint64_t maxCpuQuotaPercent = 1000000;
// CPUWeight= and IOWeight=, as systemd takes them.
inline constexpr std::uint64_t minWeight = 1, maxWeight = 10000;

// The unit settings of every limit, one "Key=value" line each, an unset one
// as systemd's "none" or default: a drop-in of ours then outweighs the ones
// SetUnitProperties left in /run for the unit (50-MemoryMax.conf sorts
// before 50-bred-machined.conf). TasksMax= is left to the confinement, which
// states it (nspawn-command.h).
std::string resourceLimitLines(const ResourceLimits& limits);

// Every limit as the unit property systemd's D-Bus API takes, each with a
// value: an unset limit is systemd's "none" or "default" (UINT64_MAX), so
// SetUnitProperties clears what is not set. An unset TasksMax is
// `defaultTasksMax`.
std::vector<std::pair<std::string, std::uint64_t>> resourceLimitProperties(const ResourceLimits& limits,
                                                                           std::uint64_t defaultTasksMax);

} // namespace bred
