#include "machine-requests.h"

#include "architecture.h"
#include "checksum.h"
#include "errors.h"
#include "download-request.h"
#include "names.h"
#include "nspawn-command.h"
#include "refusals.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace bred {

void checkMachineName(const std::string& name)
{
    if (!isValidMachineName(name))
        throw refusal::invalidMachineName(name);
}

const MachineInfo& existingMachine(const std::string& name, const MachineStateView& state)
{
    checkMachineName(name);
    const MachineInfo* machine = state.find(name);
    if (!machine)
        throw refusal::noSuchMachine(name);
    return *machine;
}

namespace {

// Throws Busy when the machine runs (it must not, to be `verb`ed) or a job holds it.
void checkIdle(const std::string& name, const MachineStateView& state, const char* verb)
{
    if (state.isRunning(name))
        throw refusal::running(name, verb);
    if (state.isHeld(name))
        throw machineBusy(name);
}

// The configuration commands change containers, not templates.
const MachineInfo& existingContainer(const std::string& name, const MachineStateView& state)
{
    const MachineInfo& machine = existingMachine(name, state);
    if (machine.machineClass == MachineClass::Template)
        throw refusal::isTemplate(name, "configure");
    return machine;
}

// The name and options CreateTemplate and ImportTemplate share; the options
// are returned for the caller's own keys.
constexpr const char* releaseWithoutDistribution =
    "Option 'release' picks a release of a distribution of the catalog; an archive URL or file is one release "
    "already.";

RequestOptions templateOptions(TemplateRequest& request, const std::string& name, OptionMap options,
                               std::set<std::string> known = {})
{
    checkMachineName(name);
    request.name = name;
    known.insert({"sha256", "verify", "arch", "force", "release"});
    RequestOptions parsed(std::move(options), known);
    request.architecture = parsed.string("arch").value_or("");
    if (auto sha256 = parsed.string("sha256")) {
        std::string hex = *sha256;
        std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return std::tolower(c); });
        if (!isHexDigest(hex, HashAlgorithm::Sha256))
            throw Error(ErrorCode::InvalidArgs, "Option 'sha256' must be 64 hexadecimal digits.");
        request.sha256 = hex;
    }
    if (auto verify = parsed.string("verify")) {
        request.verify = verifyModeFromName(*verify);
        if (!request.verify)
            throw Error(ErrorCode::InvalidArgs, "Option 'verify' must be 'no', 'checksum' or 'signature'.");
    }
    request.force = parsed.boolean("force").value_or(false);
    return parsed;
}

// The contract takes an archive from a regular file or a pipe: a socket could
// be held open by a peer without end, and devices, terminals and directories are
// no archives.
// The archive descriptor's file status; InvalidArgs when it cannot be read.
struct stat archiveDescriptorStatus(int fd)
{
    struct stat st { };
    if (fstat(fd, &st) < 0)
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("The archive descriptor cannot be examined: {}.", std::strerror(errno)));
    return st;
}

// What a descriptor that is not a stream of bytes is, in a refusal's words.
const char* descriptorKind(int fd, const struct stat& st)
{
    return S_ISSOCK(st.st_mode)  ? "a socket"
           : S_ISDIR(st.st_mode) ? "a directory"
           : S_ISCHR(st.st_mode) ? (isatty(fd) ? "a terminal" : "a character device")
           : S_ISBLK(st.st_mode) ? "a block device"
                                 : "not a file";
}

void checkArchiveDescriptor(int fd)
{
    const struct stat st = archiveDescriptorStatus(fd);
    if (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))
        return;
    throw Error(ErrorCode::InvalidArgs,
                fmt::format("The archive descriptor is {}; pass a regular file or a pipe (for example "
                            "'bredmachine import NAME FILE', or '-' with the archive piped in).",
                            descriptorKind(fd, st)));
}

// Export writes to the descriptor: it must be open for writing, and be what a
// stream of bytes goes to (a regular file, pipe or socket).
void checkExportDescriptor(int fd)
{
    const struct stat st = archiveDescriptorStatus(fd);
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("The archive descriptor is {}; pass a regular file, a pipe or a socket (for example "
                                "'bredmachine export NAME FILE', or '-' with the output piped on).",
                                descriptorKind(fd, st)));
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || ((flags & O_ACCMODE) != O_WRONLY && (flags & O_ACCMODE) != O_RDWR))
        throw Error(ErrorCode::InvalidArgs,
                    "The archive descriptor is not open for writing; open the file to write to it (for example "
                    "'bredmachine export NAME FILE' creates FILE).");
}

// A path as Bind= in the machine's .nspawn file reads it back; `what` names the argument.
std::string checkedBindPath(const std::string& path, const char* what)
{
    if (!isBindablePath(path))
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("The {} '{}' must be an absolute, normalized path, such as /srv/data, without "
                                "control characters or '\\' and not ending in a space.",
                                what, path));
    return path;
}

} // namespace

TemplateRequest parseCreateTemplate(const std::string& name, const std::string& source, OptionMap options,
                                    const std::function<Catalog()>& catalog)
{
    TemplateRequest request;
    RequestOptions parsed = templateOptions(request, name, std::move(options));
    auto release = parsed.string("release");
    if (isHttpUrl(source)) {
        request.url = source;
    } else if (source.find("://") != std::string::npos) {
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("'{}' is not an http:// or https:// URL; only those can be downloaded.", source));
    } else {
        request.distribution = catalog().choose(source, release.value_or(""));
        request.architecture = parsed.string("arch").value_or(hostArchitecture());
        Catalog::nativeArchitecture(*request.distribution, request.architecture);
        return request;
    }
    if (release)
        throw Error(ErrorCode::InvalidArgs, releaseWithoutDistribution);
    return request;
}

TemplateRequest parseImportTemplate(const std::string& name, UniqueFd archive, OptionMap options)
{
    TemplateRequest request;
    RequestOptions parsed = templateOptions(request, name, std::move(options), {"class"});
    if (parsed.string("release"))
        throw Error(ErrorCode::InvalidArgs, releaseWithoutDistribution);
    const std::string machineClass = parsed.string("class").value_or("template");
    if (machineClass != "template" && machineClass != "container")
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("Option 'class' must be 'template' or 'container', not '{}'.", machineClass));
    request.asContainer = machineClass == "container";
    if (request.asContainer && request.force)
        throw Error(ErrorCode::InvalidArgs, "Option 'force' replaces a template; it does not go with class=container.");
    if (request.verify == VerifyMode::Signature)
        throw Error(ErrorCode::NotSupported,
                    "An imported archive has no published signature to check; use verify=checksum with sha256.");
    checkArchiveDescriptor(archive.get());
    request.archiveFd = std::move(archive);
    return request;
}

void checkTemplate(const TemplateRequest& request, const MachineStateView& state)
{
    checkMachineName(request.name);
    const MachineInfo* existing = state.find(request.name);
    if (!existing)
        return;
    if (!request.force)
        throw refusal::machineExists(request.name, true);
    if (existing->machineClass != MachineClass::Template)
        throw refusal::notReplaceable(request.name);
    checkIdle(request.name, state, "replace");
}

ExportRequest parseExport(const std::string& name, UniqueFd archive, OptionMap options)
{
    checkMachineName(name);
    RequestOptions parsed(std::move(options), {"compression"});
    ExportRequest request{name, {}, ArchiveCompression::Zstd};
    if (auto compression = parsed.string("compression")) {
        auto known = archiveCompressionFromName(*compression);
        if (!known)
            throw Error(
                ErrorCode::InvalidArgs,
                fmt::format("Option 'compression' must be 'zst', 'gz', 'xz' or 'none', not '{}'.", *compression));
        request.compression = *known;
    }
    checkExportDescriptor(archive.get());
    request.archiveFd = std::move(archive);
    return request;
}

void checkExport(const ExportRequest& request, const MachineStateView& state)
{
    existingMachine(request.name, state);
    // A running machine's tree changes while it is read: the archive would not be consistent.
    checkIdle(request.name, state, "export");
}

CloneRequest parseClone(const std::string& source, const std::string& name, OptionMap options)
{
    checkMachineName(source);
    checkMachineName(name);
    RequestOptions parsed(std::move(options), {"template", "settings"});
    return CloneRequest{source, name, parsed.boolean("template").value_or(false),
                        parsed.boolean("settings").value_or(false)};
}

void checkClone(const CloneRequest& request, const MachineStateView& state)
{
    existingMachine(request.source, state);
    // A running machine's tree changes while it is copied: the copy would not be consistent.
    if (state.isRunning(request.source))
        throw refusal::running(request.source, "clone");
    if (state.find(request.name))
        throw refusal::machineExists(request.name);
}

ConvertRequest parseConvert(const std::string& name, const std::string& recipeId, OptionMap options,
                            std::vector<Recipe> recipes, const std::map<std::string, RecipeVariables>& configured)
{
    checkMachineName(name);
    RequestOptions parsed(std::move(options), {"extras"});
    const std::string id = recipeId.empty() ? "bredos" : recipeId;
    auto found = std::find_if(recipes.begin(), recipes.end(), [&](const Recipe& recipe) { return recipe.id == id; });
    if (found == recipes.end())
        throw Error(ErrorCode::NoSuchRecipe,
                    fmt::format("There is no recipe '{}'; 'bredmachine recipes' lists them.", id));
    ConvertRequest request{name, std::move(*found), {}};
    RecipeVariables variables;
    if (auto administrators = configured.find(request.recipe.id); administrators != configured.end())
        variables = administrators->second;
    if (auto extras = parsed.strings("extras")) {
        for (const auto& package : *extras)
            if (package.empty() || package.front() == '-' || package.find_first_of(" \t\n") != std::string::npos)
                throw Error(ErrorCode::InvalidArgs, fmt::format("'{}' is not a package name.", package));
        variables["extras"] = *extras;
    }
    request.steps = expandRecipeSteps(request.recipe, variables);
    return request;
}

RunTarget checkRun(const std::string& machine, const MachineStateView& state)
{
    const MachineInfo& info = existingMachine(machine, state);
    if (info.machineClass == MachineClass::Template)
        throw refusal::isTemplate(machine, "run commands in");
    RunTarget target{info.directory, state.isRunning(machine), info.limits};
    if (!target.running)
        if (auto problem = foreignArchitectureProblem(info.architecture, hostArchitecture()); !problem.empty())
            throw Error(ErrorCode::UnsupportedArchitecture, problem);
    return target;
}

RunTarget checkConvert(const ConvertRequest& request, const MachineStateView& state)
{
    const MachineInfo& info = existingMachine(request.machine, state);
    // Applicability first: the tree's OS, its architecture, and whether this host can run it.
    if (auto problem = recipeApplicabilityProblem(request.recipe, info.osRelease, info.architecture); !problem.empty())
        throw Error(ErrorCode::NotSupported, problem);
    if (auto problem = foreignArchitectureProblem(info.architecture, hostArchitecture()); !problem.empty())
        throw Error(ErrorCode::NotSupported, problem);
    return checkRun(request.machine, state);
}

MachineRequest parseStart(const std::string& name, OptionMap options)
{
    checkMachineName(name);
    RequestOptions parsed(std::move(options), {});
    return MachineRequest{name};
}

std::filesystem::path checkStart(const MachineRequest& request, const MachineStateView& state)
{
    const MachineInfo& info = existingMachine(request.name, state);
    if (info.machineClass == MachineClass::Template)
        throw refusal::isTemplate(request.name, "start");
    if (state.isRunning(request.name))
        throw refusal::runningAlready(request.name);
    if (auto problem = foreignArchitectureProblem(info.architecture, hostArchitecture()); !problem.empty())
        throw Error(ErrorCode::UnsupportedArchitecture, problem);
    return info.directory;
}

StopRequest parseStop(const std::string& name, OptionMap options)
{
    checkMachineName(name);
    RequestOptions parsed(std::move(options), {"force"});
    return StopRequest{name, parsed.boolean("force").value_or(false)};
}

void checkStop(const StopRequest& request, const MachineStateView& state)
{
    existingMachine(request.name, state);
    if (!state.isRunning(request.name))
        throw refusal::notRunning(request.name);
}

void checkReboot(const MachineRequest& request, const MachineStateView& state)
{
    existingMachine(request.name, state);
    if (!state.isRunning(request.name))
        throw refusal::notRunning(request.name);
    if (state.isHeld(request.name))
        throw machineBusy(request.name);
}

KillRequest parseKill(const std::string& name, const std::string& whom, int signal)
{
    checkMachineName(name);
    if (whom != "leader" && whom != "all")
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("'{}' is not whom to signal: use 'leader' (the container's init) or 'all' (every "
                                "process of the container).",
                                whom));
    if (signal < 1 || signal > SIGRTMAX)
        throw Error(
            ErrorCode::InvalidArgs,
            fmt::format("{} is not a signal number: use 1 to {} (for example 15 for SIGTERM).", signal, SIGRTMAX));
    return KillRequest{name, whom, signal};
}

void checkKill(const KillRequest& request, const MachineStateView& state)
{
    existingMachine(request.name, state);
    if (!state.isRunning(request.name))
        throw refusal::notRunning(request.name);
}

void checkOpenLogin(const MachineRequest& request, const MachineStateView& state)
{
    existingMachine(request.name, state);
    if (!state.isRunning(request.name))
        throw refusal::notRunning(request.name);
}

MachineRequest parseMachine(const std::string& name)
{
    checkMachineName(name);
    return MachineRequest{name};
}

std::filesystem::path checkEnable(const MachineRequest& request, const MachineStateView& state)
{
    const MachineInfo& info = existingMachine(request.name, state);
    if (info.machineClass == MachineClass::Template)
        throw refusal::isTemplate(request.name, "enable");
    return info.directory;
}

void checkDisable(const MachineRequest& request, const MachineStateView& state)
{
    existingMachine(request.name, state);
}

BindRequest parseBind(const std::string& name, const std::string& source, const std::string& destination,
                      OptionMap options)
{
    checkMachineName(name);
    RequestOptions parsed(std::move(options), {"read_only", "mkdir"});
    BindRequest request;
    request.name = name;
    request.bind.source = checkedBindPath(source, "source");
    request.bind.destination = checkedBindPath(destination.empty() ? source : destination, "destination");
    request.bind.readOnly = parsed.boolean("read_only").value_or(false);
    request.makeSource = parsed.boolean("mkdir").value_or(false);
    return request;
}

void checkBind(const BindRequest& request, const MachineStateView& state)
{
    existingContainer(request.name, state);
    if (state.isHeld(request.name))
        throw machineBusy(request.name);
}

UnbindRequest parseUnbind(const std::string& name, const std::string& destination)
{
    checkMachineName(name);
    return UnbindRequest{name, checkedBindPath(destination, "destination")};
}

void checkUnbind(const UnbindRequest& request, const MachineStateView& state) { existingMachine(request.name, state); }

NetworkRequest parseSetNetwork(const std::string& name, OptionMap settings)
{
    checkMachineName(name);
    RequestOptions parsed(std::move(settings), {"mode", "bridge", "address", "gateway", "dns", "dhcp"});
    NetworkRequest request;
    request.name = name;
    NetworkSettings& hostSide = request.hostSide;
    hostSide.mode = parsed.string("mode").value_or("veth");
    hostSide.bridge = parsed.string("bridge").value_or("");
    if (hostSide.mode != "host" && hostSide.mode != "veth" && hostSide.mode != "bridge")
        throw Error(ErrorCode::InvalidArgs, "Setting 'mode' must be 'host', 'veth' or 'bridge'.");
    if ((hostSide.mode == "bridge") == hostSide.bridge.empty())
        throw Error(ErrorCode::InvalidArgs, "Setting 'bridge' names the host bridge, with mode 'bridge' only.");
    if (!hostSide.bridge.empty() && !isValidInterfaceName(hostSide.bridge))
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("Setting 'bridge' ('{}') must be an interface name as the kernel takes it: 1 to "
                                "15 printable ASCII characters, no '/', ':' or whitespace, not all digits, "
                                "not '.' or '..'.",
                                hostSide.bridge));
    ContainerNetwork inside{parsed.boolean("dhcp").value_or(false), parsed.string("address").value_or(""),
                            parsed.string("gateway").value_or(""),
                            parsed.strings("dns").value_or(std::vector<std::string>{})};
    validateContainerNetwork(inside);
    bool configuresInside = inside.dhcp || !inside.address.empty() || !inside.gateway.empty() || !inside.dns.empty();
    if (hostSide.mode == "host" && configuresInside)
        throw Error(ErrorCode::InvalidArgs,
                    "With mode 'host' the container shares the host's network and has no host0 to configure.");
    if (hostSide.mode != "host")
        request.containerSide = configuresInside ? inside : ContainerNetwork{true, {}, {}, {}};
    return request;
}

void checkSetNetwork(const NetworkRequest& request, const MachineStateView& state)
{
    existingContainer(request.name, state);
    if (state.isHeld(request.name))
        throw machineBusy(request.name);
}

AddUserRequest parseAddUser(const std::string& name, const std::string& user, OptionMap options)
{
    checkMachineName(name);
    RequestOptions parsed(std::move(options), {"password_hash", "groups", "shell"});
    auto groups = parsed.strings("groups");
    auto shell = parsed.string("shell");
    UserAddition addition = userAddition(user, parsed.string("password_hash"), groups, shell);
    return AddUserRequest{name, user, groups.value_or(std::vector<std::string>{}), shell.value_or(""),
                          std::move(addition)};
}

RunRequest parseRun(const std::string& name, std::vector<std::string> argv, UniqueFd stdinFd, UniqueFd stdoutFd,
                    UniqueFd stderrFd, OptionMap options)
{
    checkMachineName(name);
    RequestOptions parsed(std::move(options), {"user", "env", "cwd"});
    RunRequest request;
    request.machine = name;
    request.command.argv = std::move(argv);
    request.command.user = parsed.string("user").value_or("");
    request.command.environment = parsed.strings("env").value_or(std::vector<std::string>{});
    request.command.workingDirectory = parsed.string("cwd").value_or("");
    request.stdinFd = std::move(stdinFd);
    request.stdoutFd = std::move(stdoutFd);
    request.stderrFd = std::move(stderrFd);
    validateContainerCommand(request.command);
    return request;
}

void checkRemove(const MachineRequest& request, const MachineStateView& state)
{
    existingMachine(request.name, state);
    checkIdle(request.name, state, "remove");
}

LimitsRequest parseSetLimits(const std::string& name, OptionMap limits)
{
    checkMachineName(name);
    std::set<std::string> known;
    for (const auto& key : resourceLimitKeys)
        known.insert(key.name);
    RequestOptions parsed(std::move(limits), known);
    LimitsRequest request{name, {}};
    for (const auto& key : resourceLimitKeys) {
        std::optional<std::uint64_t> value;
        if (key.percent)
            value = parsed.uint32(key.name);
        else
            value = parsed.uint64(key.name);
        if (!value)
            continue;
        bool weight = key.value == &ResourceLimits::cpuWeight || key.value == &ResourceLimits::ioWeight;
        if (weight && *value != 0 && (*value < minWeight || *value > maxWeight))
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("{} must be {} to {}, as systemd takes it, or 0 for the default; not {}.", key.name,
                                    minWeight, maxWeight, *value));
        if (key.percent && *value > maxCpuQuotaPercent)
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("{} is a percentage of one CPU (200 is two CPUs), at most {}, or 0 for no "
                                    "limit; not {}.",
                                    key.name, maxCpuQuotaPercent, *value));
        if (*value == UINT64_MAX)
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("{} must be a number below {}; 0 is no limit.", key.name, UINT64_MAX));
        request.given[key.name] = *value;
    }
    return request;
}

void checkSetLimits(const LimitsRequest& request, const MachineStateView& state)
{
    existingContainer(request.name, state);
    if (state.isHeld(request.name))
        throw machineBusy(request.name);
}

ResourceLimits appliedLimits(ResourceLimits limits, const LimitsRequest& request)
{
    for (const auto& [name, value] : request.given)
        if (const ResourceLimitKey* key = findResourceLimitKey(name))
            limits.*key->value = value;
    return limits;
}

RenameRequest parseRename(const std::string& name, const std::string& newName)
{
    checkMachineName(name);
    checkMachineName(newName);
    return RenameRequest{name, newName};
}

void checkRename(const RenameRequest& request, const MachineStateView& state)
{
    existingMachine(request.name, state);
    if (state.find(request.newName))
        throw refusal::machineExists(request.newName);
    checkIdle(request.name, state, "rename");
    checkIdle(request.newName, state, "rename");
}

CopyRequest parseCopy(const std::string& name, CopyDirection direction, const std::string& hostPath,
                      const std::string& machinePath, OptionMap options)
{
    checkMachineName(name);
    RequestOptions parsed(std::move(options), {"replace"});
    auto checkedPath = [](const std::string& path, const char* what, bool destination) {
        if (!isAbsoluteNormalPath(path) || (destination && path == "/"))
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("The {} '{}' must be an absolute, normalized path without control characters{}, "
                                    "such as /root/notes.txt.",
                                    what, path, destination ? ", naming a file or directory other than /" : ""));
        return path;
    };
    const bool into = direction == CopyDirection::IntoMachine;
    CopyRequest request;
    request.machine = name;
    request.direction = direction;
    request.hostPath = checkedPath(hostPath, "host path", !into);
    request.machinePath = checkedPath(machinePath, "path in the machine", into);
    request.replace = parsed.boolean("replace").value_or(false);
    return request;
}

void checkCopy(CopyRequest& request, const MachineStateView& state)
{
    const MachineInfo& machine = existingMachine(request.machine, state);
    if (request.direction == CopyDirection::IntoMachine && machine.machineClass == MachineClass::Template)
        throw refusal::isTemplate(request.machine, "copy files into");
    request.directory = machine.directory;
    request.running = state.isRunning(request.machine);
    if (!request.running && state.isHeld(request.machine))
        throw machineBusy(request.machine);
}

} // namespace bred
