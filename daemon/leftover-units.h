// Units a daemon killed mid-job left running on the host: the systemd-nspawn
// units of commands run in stopped trees (Run, AddUser, Convert), which would
// otherwise keep a tree booted with no job holding it.
#pragma once

#include <string>
#include <vector>

namespace bred {

// Stops every such unit and waits (a bounded time) until they are gone; run at
// startup, before the bus name is taken. Returns what it did, one line each.
std::vector<std::string> stopLeftoverRunUnits();

} // namespace bred
