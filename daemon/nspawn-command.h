// The one place that builds a container's systemd-nspawn command line and its
// service settings, for transient units (Start) and unit files (Enable) alike.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace bred {

// systemd-nspawn --quiet --keep-unit --boot --machine=NAME --directory=DIR
// --notify-ready=yes; binds and network come from NAME.nspawn, which nspawn
// reads itself, so they hold however the container is started.
std::vector<std::string> nspawnCommand(const std::string& name, const std::filesystem::path& directory);

// The service unit a container runs in.
std::string containerUnitName(const std::string& name);

// Why a tree of this architecture cannot run here, or empty when it can. A
// foreign architecture needs a registered binfmt_misc handler.
std::string foreignArchitectureProblem(const std::string& treeArchitecture, const std::string& hostArchitecture);

} // namespace bred
