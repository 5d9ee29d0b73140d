// The one place that builds a container's systemd-nspawn command line and its
// service settings, for transient units (Start) and unit files (Enable) alike.
#pragma once

#include "resource-limits.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace bred {

// systemd-nspawn --quiet --keep-unit --boot --machine=NAME --directory=DIR
// --notify-ready=yes; binds and network come from NAME.nspawn, which nspawn
// reads itself, so they hold however the container is started.
std::vector<std::string> nspawnCommand(const std::string& name, const std::filesystem::path& directory);

// A command to run inside a container, and as whom.
struct ContainerCommand {
    std::vector<std::string> argv;
    std::string user;                     // empty: root
    std::vector<std::string> environment; // NAME=VALUE
    std::string workingDirectory;         // absolute, "~" (the user's home), or empty ("/")
};

// The command as the payload of a stopped container: nspawn without --boot,
// the command behind nspawn's stub init (--as-pid2), not registered with
// machined (the container is not running), with the machine's .nspawn
// settings. A terminal on stdin (`interactive`) gets a pty inside.
std::vector<std::string> nspawnRunCommand(const std::string& name, const std::filesystem::path& directory,
                                          const ContainerCommand& payload, bool interactive);

// The service unit a container runs in, transient or enabled alike.
std::string containerUnitName(const std::string& name);
// The mount unit of /run/systemd/nspawn/unix-export/NAME, which
// systemd-nspawn 257+ mounts for a container and cannot remove when it is
// killed; the next nspawn of that name refuses to start while it is there.
std::string unixExportMountUnitName(const std::string& name);

// What every unit that runs systemd-nspawn gets, whether it boots the
// container or runs one command in its stopped tree: root inside is root on
// the host's devices but for this cgroup device policy, so the command in a
// stopped tree is confined as the booted container is. The devices are those
// of systemd-nspawn@.service less the loop, blkext and device-mapper ones it
// keeps for --image= only: that unit runs with --private-users, so root inside
// cannot make device nodes, and we run without, so allowing them would hand
// the host's loop devices (and what they hold) to root inside.
struct NspawnConfinement {
    std::string killMode = "mixed", slice = "machine.slice";
    bool delegate = true;
    std::uint64_t tasksMax = 16384, limitNofile = 524288;
    std::string devicePolicy = "closed";
    std::vector<std::pair<std::string, std::string>> deviceAllow{{"/dev/net/tun", "rwm"}, {"char-pts", "rw"}};
    // The machine's own (SetLimits); its TasksMax, when set, is the unit's in place of tasksMax.
    ResourceLimits limits;
};

// How the container's service runs, as systemd-nspawn@.service does it: ready
// when the container says so, the payload killed last, the cgroup delegated.
// A reboot inside exits 133 (start again), a poweroff exits 0 and stays off,
// a failure restarts.
struct ContainerService {
    std::string description;
    std::vector<std::string> command;
    std::string type = "notify", notifyAccess = "all";
    std::string restart = "on-failure";
    std::int32_t rebootExitStatus = 133; // RestartForceExitStatus= and SuccessExitStatus=
    NspawnConfinement confinement;
};

// `word` as an ExecStart= argument that systemd passes on as it is: systemd
// expands $NAME there, and "$$" stands for "$".
std::string literalExecWord(const std::string& word);

ContainerService containerService(const std::string& name, const std::filesystem::path& directory,
                                  const ResourceLimits& limits = {});

// The same service as a unit file, installed into machines.target for Enable.
std::string containerUnitFile(const ContainerService& service, const std::filesystem::path& directory);

// The unit `machinectl start` and `machinectl enable` use: systemd-nspawn@NAME.service.
std::string machinectlUnitName(const std::string& name);

// A drop-in for machinectlUnitName(): the confinement of our own units in place
// of systemd-nspawn@.service's, which allows loop and device-mapper devices
// because it runs containers in a user namespace. Ours do not (the .nspawn file
// says PrivateUsers=no), so root inside could otherwise reach the host's disks.
std::string machinectlUnitDropIn(const NspawnConfinement& confinement);

// Why a tree of this architecture cannot run here, or empty when it can. A
// foreign architecture needs a registered binfmt_misc handler.
std::string foreignArchitectureProblem(const std::string& treeArchitecture, const std::string& hostArchitecture);

} // namespace bred
