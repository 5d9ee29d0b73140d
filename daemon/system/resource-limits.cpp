#include "resource-limits.h"

#include <fmt/format.h>

namespace bred {

const ResourceLimitKey* findResourceLimitKey(const std::string& name)
{
    for (const auto& key : resourceLimitKeys)
        if (name == key.name)
            return &key;
    return nullptr;
}

std::string resourceLimitLines(const ResourceLimits& limits)
{
    std::string lines;
    for (const auto& key : resourceLimitKeys) {
        std::uint64_t value = limits.*key.value;
        bool memory = key.value == &ResourceLimits::memoryMax || key.value == &ResourceLimits::memoryHigh;
        if (key.value == &ResourceLimits::tasksMax)
            continue;
        if (value != 0)
            lines += fmt::format("{}={}{}\n", key.name, value, key.percent ? "%" : "");
        else // an empty assignment is the default: no quota, systemd's weight
            lines += fmt::format("{}={}\n", key.name, memory ? "infinity" : "");
    }
    return lines;
}

std::vector<std::pair<std::string, std::uint64_t>> resourceLimitProperties(const ResourceLimits& limits,
                                                                           std::uint64_t defaultTasksMax)
{
    auto orUnset = [](std::uint64_t value) { return value ? value : UINT64_MAX; };
    // CPUQuota= is CPUQuotaPerSecUSec on the bus: 1% is 10 ms of CPU time per second.
    return {{"MemoryMax", orUnset(limits.memoryMax)},
            {"MemoryHigh", orUnset(limits.memoryHigh)},
            {"CPUQuotaPerSecUSec", limits.cpuQuota ? limits.cpuQuota * 10000 : UINT64_MAX},
            {"CPUWeight", orUnset(limits.cpuWeight)},
            {"IOWeight", orUnset(limits.ioWeight)},
            {"TasksMax", limits.tasksMax ? limits.tasksMax : defaultTasksMax}};
}

} // namespace bred
