#include "nspawn-command.h"

#include "in-root.h"
#include "unique-fd.h"

#include <cctype>
#include <fcntl.h>
#include <fmt/format.h>
#include <sstream>
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

// The home directory of `user` in the tree's own passwd, or "" when it has none.
std::string homeInTree(const std::filesystem::path& directory, const std::string& user)
{
    UniqueFd root(open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto passwd = root ? readFileInRoot(root.get(), "etc/passwd", 16 << 20) : std::nullopt;
    if (!passwd)
        return {};
    std::istringstream lines(*passwd);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream parts(line);
        for (std::string field; std::getline(parts, field, ':');)
            fields.push_back(field);
        if (fields.size() >= 6 && fields[0] == user)
            return fields[5];
    }
    return {};
}

} // namespace

std::vector<std::string> nspawnCommand(const std::string& name, const std::filesystem::path& directory)
{
    return {"/usr/bin/systemd-nspawn",           "--quiet",           "--keep-unit", "--boot", "--machine=" + name,
            "--directory=" + directory.string(), "--notify-ready=yes"};
}

std::vector<std::string> nspawnRunCommand(const std::string& name, const std::filesystem::path& directory,
                                          const ContainerCommand& payload, bool interactive)
{
    std::vector<std::string> command{"/usr/bin/systemd-nspawn", "--quiet", "--keep-unit", "--register=no", "--as-pid2",
                                     "--machine=" + name, "--directory=" + directory.string(),
                                     // A terminal gets a pty inside, with job control; anything else is passed as is.
                                     interactive ? "--console=interactive" : "--console=pipe"};
    if (!payload.user.empty())
        command.push_back("--user=" + payload.user);
    std::string workingDirectory = payload.workingDirectory;
    if (workingDirectory == "~")
        workingDirectory = homeInTree(directory, payload.user.empty() ? "root" : payload.user);
    if (!workingDirectory.empty())
        command.push_back("--chdir=" + workingDirectory);
    for (const auto& variable : payload.environment)
        command.push_back("--setenv=" + variable);
    command.push_back("--");
    command.insert(command.end(), payload.argv.begin(), payload.argv.end());
    return command;
}

std::string containerUnitName(const std::string& name) { return "bred-machine-" + name + ".service"; }

std::string unixExportMountUnitName(const std::string& name)
{
    // systemd's path escaping (systemd-escape --path) of a machine name's characters.
    std::string unit = "run-systemd-nspawn-unix\\x2dexport-";
    for (std::size_t i = 0; i < name.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(name[i]);
        if (std::isalnum(c) || c == '_' || c == ':' || (c == '.' && i > 0))
            unit += static_cast<char>(c);
        else
            unit += fmt::format("\\x{:02x}", c);
    }
    return unit + ".mount";
}

std::string literalExecWord(const std::string& word)
{
    std::string literal;
    for (char c : word) {
        if (c == '$')
            literal += '$';
        literal += c;
    }
    return literal;
}

ContainerService containerService(const std::string& name, const std::filesystem::path& directory,
                                  const ResourceLimits& limits)
{
    ContainerService service;
    service.description = fmt::format("Container {} (bred-machined)", name);
    service.command = nspawnCommand(name, directory);
    service.confinement.limits = limits;
    return service;
}

namespace {

// One word of ExecStart=, quoted as systemd's unit file syntax reads it back.
std::string quoteUnitWord(const std::string& word)
{
    std::string quoted = "\"";
    for (char c : word) {
        if (c == '\\' || c == '"')
            quoted += '\\';
        if (c == '%')
            quoted += c; // %% stands for itself
        quoted += c;
    }
    return quoted + "\"";
}

} // namespace

namespace {

// The [Service] lines of NspawnConfinement, for unit files and drop-ins alike.
std::string confinementLines(const NspawnConfinement& confinement)
{
    std::string lines = fmt::format("KillMode={}\n"
                                    "Delegate={}\n"
                                    "Slice={}\n"
                                    "TasksMax={}\n"
                                    "LimitNOFILE={}\n"
                                    "DevicePolicy={}\n"
                                    "DeviceAllow=\n", // an empty assignment drops the devices a unit allowed before
                                    confinement.killMode, confinement.delegate ? "yes" : "no", confinement.slice,
                                    confinement.limits.tasksMax ? confinement.limits.tasksMax : confinement.tasksMax,
                                    confinement.limitNofile, confinement.devicePolicy);
    for (const auto& [device, access] : confinement.deviceAllow)
        lines += fmt::format("DeviceAllow={} {}\n", device, access);
    return lines + resourceLimitLines(confinement.limits);
}

} // namespace

std::string containerUnitFile(const ContainerService& service, const std::filesystem::path& directory)
{
    std::string execStart;
    for (const auto& word : service.command)
        execStart += (execStart.empty() ? "" : " ") + quoteUnitWord(literalExecWord(word));
    return fmt::format("# Written by bred-machined for 'bredmachine enable'; 'bredmachine disable' removes it.\n"
                       "[Unit]\n"
                       "Description={}\n"
                       "PartOf=machines.target\n"
                       "Before=machines.target\n"
                       "After=network.target systemd-resolved.service modprobe@tun.service\n"
                       "Wants=modprobe@tun.service\n"
                       "RequiresMountsFor={}\n"
                       "\n"
                       "[Service]\n"
                       "ExecStart={}\n"
                       "Type={}\n"
                       "NotifyAccess={}\n"
                       "Restart={}\n"
                       "RestartForceExitStatus={}\n"
                       "SuccessExitStatus={}\n"
                       "{}"
                       "\n"
                       "[Install]\n"
                       "WantedBy=machines.target\n",
                       service.description, quoteUnitWord(directory.string()), execStart, service.type,
                       service.notifyAccess, service.restart, service.rebootExitStatus, service.rebootExitStatus,
                       confinementLines(service.confinement));
}

std::string machinectlUnitName(const std::string& name) { return fmt::format("systemd-nspawn@{}.service", name); }

std::string machinectlUnitDropIn(const NspawnConfinement& confinement)
{
    return "# Written by bred-machined: its .nspawn file starts this container without a user namespace,\n"
           "# so 'machinectl start' confines it as 'bredmachine start' does (no loop or device-mapper devices).\n"
           "[Service]\n" +
           confinementLines(confinement);
}

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
