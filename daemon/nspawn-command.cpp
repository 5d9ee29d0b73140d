#include "nspawn-command.h"

#include <fmt/format.h>
#include <fstream>

namespace bred {
namespace {

// Architectures a host runs natively besides its own.
bool runsNatively(const std::string& tree, const std::string& host)
{
    return tree == host || (host == "x86-64" && tree == "x86") || (host == "arm64" && tree == "arm");
}

// The binfmt_misc handler names of qemu-user-static for each architecture.
std::string qemuName(const std::string& architecture)
{
    if (architecture == "arm64")
        return "qemu-aarch64";
    if (architecture == "arm")
        return "qemu-arm";
    if (architecture == "x86-64")
        return "qemu-x86_64";
    if (architecture == "x86")
        return "qemu-i386";
    if (architecture == "riscv64")
        return "qemu-riscv64";
    if (architecture == "ppc64-le")
        return "qemu-ppc64le";
    if (architecture == "s390x")
        return "qemu-s390x";
    return "qemu-" + architecture;
}

} // namespace

std::vector<std::string> nspawnCommand(const std::string& name, const std::filesystem::path& directory)
{
    return {"/usr/bin/systemd-nspawn", "--quiet",        "--keep-unit",      "--boot",
            "--machine=" + name,       "--directory=" + directory.string(), "--notify-ready=yes"};
}

std::string containerUnitName(const std::string& name) { return "bred-machine-" + name + ".service"; }

std::string foreignArchitectureProblem(const std::string& treeArchitecture, const std::string& hostArchitecture)
{
    if (treeArchitecture.empty() || runsNatively(treeArchitecture, hostArchitecture))
        return {};
    std::ifstream handler("/proc/sys/fs/binfmt_misc/" + qemuName(treeArchitecture));
    std::string state;
    if (handler && std::getline(handler, state) && state == "enabled")
        return {};
    return fmt::format("The container is {} and this host is {}, and no binfmt_misc handler for {} is registered; "
                       "install qemu-user-static (or qemu-user-binfmt) to run it.",
                       treeArchitecture, hostArchitecture, treeArchitecture);
}

} // namespace bred
