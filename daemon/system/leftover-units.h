// Units a daemon killed mid-job left running: on the host, the systemd-nspawn
// units of commands run in stopped trees (Run, AddUser, Convert), which would
// otherwise keep a tree booted with no job holding it; inside running
// containers, the units of commands run there, which nobody waits for.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace bred {

// Notes, for its lifetime, that this daemon runs `unit` inside the running
// container `machine`, in a file under /run that outlives a killed daemon.
class RunningCommandNote {
public:
    RunningCommandNote(const std::string& machine, const std::string& unit);
    ~RunningCommandNote();
    RunningCommandNote(const RunningCommandNote&) = delete;
    RunningCommandNote& operator=(const RunningCommandNote&) = delete;

private:
    std::filesystem::path path_;
};

// Stops every such unit: on the host waiting (a bounded time) until they are
// gone, in containers those noted, each container given a few seconds to
// answer. Run at startup, before the bus name is taken. Returns what it did,
// one line each.
std::vector<std::string> stopLeftoverRunUnits();

} // namespace bred
