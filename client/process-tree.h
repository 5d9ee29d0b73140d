// A unit's processes drawn as the tree of their control groups, as
// `machinectl status` and `systemctl status` draw it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bred::client {

struct UnitProcess {
    std::string cgroup; // absolute, as systemd's GetUnitProcesses() gives it
    std::uint32_t pid = 0;
    std::string commandLine;
};

// The lines under "CGroup: ROOT": subgroups and processes below `root`,
// processes first, then subgroups in name order, each line at most `width` columns.
std::vector<std::string> drawProcessTree(const std::string& root, const std::vector<UnitProcess>& processes,
                                         std::size_t width);

} // namespace bred::client
