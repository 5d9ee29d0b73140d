#include "manager-object.h"

#include "bus-names.h"
#include "current-error.h"
#include "dbus-error.h"
#include "atomic-file.h"
#include "checksum.h"
#include "container-run.h"
#include "container-user.h"
#include "recipe-runner.h"
#include "method-options.h"
#include "names.h"
#include "nspawn-command.h"
#include "utf8.h"

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <sys/stat.h>
#include <spdlog/spdlog.h>
#include <syslog.h>
#include <unistd.h>

namespace bred {
namespace {

void validateMachineName(const std::string& name)
{
    if (!isValidMachineName(name))
        throw Error(ErrorCode::InvalidName,
                    fmt::format("'{}' is not a valid machine name: use 1 to 64 letters, digits, '-' and '.', "
                                "in dot-separated parts that neither start nor end with '-'.",
                                name));
}

// The contract takes an archive from a regular file or a pipe: a socket could
// be held open by a peer without end, and devices, terminals and directories are
// no archives.
void checkArchiveDescriptor(int fd)
{
    struct stat st {};
    if (fstat(fd, &st) < 0)
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("The archive descriptor cannot be examined: {}.", std::strerror(errno)));
    if (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))
        return;
    const char* what = S_ISSOCK(st.st_mode)  ? "a socket"
                       : S_ISDIR(st.st_mode) ? "a directory"
                       : S_ISCHR(st.st_mode) ? (isatty(fd) ? "a terminal" : "a character device")
                       : S_ISBLK(st.st_mode) ? "a block device"
                                             : "not a file";
    throw Error(ErrorCode::InvalidArgs,
                fmt::format("The archive descriptor is {}; pass a regular file or a pipe (for example "
                            "'bredmachine import NAME FILE', or '-' with the archive piped in).",
                            what));
}

template <typename... Results>
void replyError(sdbus::Result<Results...>& result, const Error& error)
{
    result.returnError(toDbusError(error));
}

} // namespace

ManagerObject::ManagerObject(sdbus::IConnection& bus, const Config& config, MachineStore& store,
                             MachineRegistry& machines, JobManager& jobs, JobRegistry& jobRegistry,
                             PolkitAuthority& polkit, UnitManager& units)
    : AdaptorInterfaces(bus, sdbus::ObjectPath{bus::managerPath}), config_(config),
      installer_(store, InstallLimits{DownloadLimits{config.maxDownloadBytes, config.connectTimeout,
                                                     config.lowSpeedTimeout, 1024, config.downloadRetries},
                                      config.maxTreeBytes}),
      cloner_(store), store_(store), machines_(machines), jobs_(jobs),
      jobRegistry_(jobRegistry), polkit_(polkit), units_(units)
{
    registerAdaptor();
    machines_.setAnnouncers([this](const std::string& name, const std::string& path) { emitMachineNew(name, sdbus::ObjectPath{path}); },
                            [this](const std::string& name, const std::string& path) {
                                emitMachineRemoved(name, sdbus::ObjectPath{path});
                            });
    jobRegistry_.setAnnouncers(
        [this](std::uint32_t id, const std::string& path) { emitJobNew(id, sdbus::ObjectPath{path}); },
        [this](std::uint32_t id, const std::string& path, const std::string& jobResult, const std::string& errorName,
               const std::string& errorMessage) { emitJobRemoved(id, sdbus::ObjectPath{path}, jobResult, errorName, errorMessage); });
}

ManagerObject::~ManagerObject()
{
    machines_.setAnnouncers({}, {});
    jobRegistry_.setAnnouncers({}, {});
    unregisterAdaptor();
}

Caller ManagerObject::currentCaller() const
{
    return Caller::fromMessage(dbus::currentMessage(getObject()));
}

template <typename Work, typename... Results>
void ManagerObject::authorizeThen(sdbus::Result<Results...>&& result, const std::string& action, Details details,
                                  Work work)
{
    Caller caller = currentCaller();
    auto sharedResult = std::make_shared<sdbus::Result<Results...>>(std::move(result));
    polkit_.check(caller, action, details, [sharedResult, work = std::move(work), caller](std::optional<Error> denied) {
        if (denied) {
            replyError(*sharedResult, *denied);
            return;
        }
        try {
            work(sharedResult, caller);
        } catch (...) {
            replyError(*sharedResult, currentError("An authorized call"));
        }
    });
}

const MachineView& ManagerObject::existingMachine(const std::string& name) const
{
    validateMachineName(name);
    const MachineView* machine = machines_.find(name);
    if (!machine)
        throw Error(ErrorCode::NoSuchMachine,
                    fmt::format("No machine '{}' exists in {}; 'bredmachine list' shows the machines.", name,
                                store_.directory().string()));
    return *machine;
}

void ManagerObject::refreshReadOnlyFlag(const std::string& name) const
{
    // The read-only flag (what makes a template) can change without an inotify event: look again.
    if (isValidMachineName(name))
        machines_.refresh(name);
}

void ManagerObject::ensureNoJob(const std::string& name) const
{
    if (jobs_.isMachineHeld(name))
        throw Error(ErrorCode::Busy,
                    fmt::format("Machine '{}' is busy with another job; wait for it (see 'bredmachine jobs') or "
                                "cancel it.",
                                name));
}

void ManagerObject::ensureIdle(const std::string& name, const char* what) const
{
    if (machines_.isRunning(name))
        throw Error(ErrorCode::Busy,
                    fmt::format("Machine '{}' is running; stop it first ('bredmachine stop {}') to {} it.", name,
                                name, what));
    ensureNoJob(name);
}

// Every bus method is a function-try-block: whatever escapes its body reaches the caller as a D-Bus error
// instead of unwinding through sd-bus (see current-error.h).
std::vector<sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>> ManagerObject::ListMachines()
try {
    std::vector<sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>> list;
    for (const MachineView* machine : machines_.list())
        list.emplace_back(machine->info.name, std::string(machineClassName(machine->info.machineClass)),
                          machine->state, sdbus::ObjectPath(bus::machinePath(machine->info.name)));
    return list;
} catch (...) {
    throw toDbusError(currentError("ListMachines"));
}

sdbus::ObjectPath ManagerObject::GetMachine(const std::string& name)
try {
    return sdbus::ObjectPath(bus::machinePath(existingMachine(name).info.name));
} catch (...) {
    throw toDbusError(currentError("GetMachine"));
}

std::vector<sdbus::Struct<uint32_t, std::string, std::string, std::string, sdbus::ObjectPath>> ManagerObject::ListJobs()
try {
    std::vector<sdbus::Struct<uint32_t, std::string, std::string, std::string, sdbus::ObjectPath>> list;
    for (const auto& job : jobs_.jobs())
        list.emplace_back(job->id(), job->type(), job->machine(), std::string(jobStateName(job->progress().state)),
                          sdbus::ObjectPath(bus::jobPath(job->id())));
    return list;
} catch (...) {
    throw toDbusError(currentError("ListJobs"));
}

Catalog ManagerObject::loadCatalog() const { return Catalog::load(config_.catalogFile, config_.catalogDirectory); }

std::vector<sdbus::Struct<std::string, std::string, std::string, std::string>> ManagerObject::ListDistributions()
try {
    std::vector<sdbus::Struct<std::string, std::string, std::string, std::string>> list;
    const Catalog catalog = loadCatalog();
    for (const auto& distribution : catalog.distributions()) {
        std::string architectures;
        for (const auto& [arch, native] : distribution.architectures)
            architectures += (architectures.empty() ? "" : ",") + arch;
        std::string url;
        try {
            auto preferred = distribution.architectures.count(hostArchitecture())
                                 ? hostArchitecture()
                                 : distribution.architectures.begin()->first;
            url = Catalog::resolve(distribution, preferred).archiveUrl;
        } catch (const Error&) {
            url = distribution.archiveUrl;
        }
        // Catalog files are the administrator's, but a bad byte in one must not fail the listing.
        list.emplace_back(escapeInvalidUtf8(distribution.id), escapeInvalidUtf8(distribution.name),
                          escapeInvalidUtf8(architectures), escapeInvalidUtf8(url));
    }
    return list;
} catch (...) {
    throw toDbusError(currentError("ListDistributions"));
}

std::vector<Recipe> ManagerObject::loadRecipes() const
{
    std::vector<std::string> problems;
    auto recipes = bred::loadRecipes({config_.recipeDirectory, config_.localRecipeDirectory}, &problems);
    for (const auto& problem : problems)
        spdlog::warn("Skipping a recipe: {}", problem);
    return recipes;
}

std::vector<sdbus::Struct<std::string, std::string>> ManagerObject::ListRecipes()
try {
    std::vector<sdbus::Struct<std::string, std::string>> list;
    for (const auto& recipe : loadRecipes())
        list.emplace_back(escapeInvalidUtf8(recipe.id), escapeInvalidUtf8(recipe.description));
    return list;
} catch (...) {
    throw toDbusError(currentError("ListRecipes"));
}

namespace {

// The name and options CreateTemplate and ImportTemplate share, into the request.
MethodOptions applyTemplateOptions(TemplateRequest& request, const std::string& name,
                                   std::map<std::string, sdbus::Variant> rawOptions)
{
    validateMachineName(name);
    request.name = name;
    MethodOptions options(std::move(rawOptions), {"sha256", "verify", "arch", "force"});
    request.architecture = options.string("arch").value_or("");
    if (auto sha256 = options.string("sha256")) {
        std::string hex = *sha256;
        std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return std::tolower(c); });
        if (!isHexDigest(hex, HashAlgorithm::Sha256))
            throw Error(ErrorCode::InvalidArgs, "Option 'sha256' must be 64 hexadecimal digits.");
        request.sha256 = hex;
    }
    if (auto verify = options.string("verify")) {
        request.verify = verifyModeFromName(*verify);
        if (!request.verify)
            throw Error(ErrorCode::InvalidArgs, "Option 'verify' must be 'no', 'checksum' or 'signature'.");
    }
    request.force = options.boolean("force").value_or(false);
    return options;
}

} // namespace

void ManagerObject::startTemplateJob(const JobReply& reply, const Caller& caller,
                                     std::shared_ptr<TemplateRequest> request)
{
    const std::string& name = request->name;
    if (const MachineView* existing = machines_.find(name)) {
        if (!request->force)
            throw Error(ErrorCode::AlreadyExists,
                        fmt::format("A machine '{}' already exists; choose another name, or replace it (force).", name));
        if (existing->info.machineClass != MachineClass::Template)
            throw Error(ErrorCode::AlreadyExists,
                        fmt::format("'{}' is a container, not a template; only templates are replaced.", name));
        ensureIdle(name, "replace");
    }
    auto job = jobs_.admit("create-template", {name}, "create-template", caller.uid);
    auto path = jobRegistry_.start(
        job, [this, request](JobContext& context) { installer_.install(*request, context); },
        [this, name] { machines_.refresh(name); });
    reply->returnResults(job->id(), sdbus::ObjectPath(path));
}

void ManagerObject::CreateTemplate(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
                                   std::string source, std::map<std::string, sdbus::Variant> options)
try {
    auto request = std::make_shared<TemplateRequest>();
    try {
        auto parsed = applyTemplateOptions(*request, name, std::move(options));
        if (isHttpUrl(source)) {
            request->url = source;
        } else if (source.find("://") != std::string::npos) {
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("'{}' is not an http:// or https:// URL; only those can be downloaded.", source));
        } else {
            request->distribution = loadCatalog().find(source);
            request->architecture = parsed.string("arch").value_or(hostArchitecture());
            Catalog::resolve(*request->distribution, request->architecture);
        }
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "create-template",
                  {{"machine", name}, {"verb", "create-template"}, {"source", source}},
                  [this, request](const JobReply& reply, const Caller& caller) {
                      startTemplateJob(reply, caller, request);
                  });
} catch (...) {
    throw toDbusError(currentError("CreateTemplate"));
}

void ManagerObject::ImportTemplate(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
                                   sdbus::UnixFd archive, std::map<std::string, sdbus::Variant> options)
try {
    auto request = std::make_shared<TemplateRequest>();
    try {
        applyTemplateOptions(*request, name, std::move(options));
        if (request->verify == VerifyMode::Signature)
            throw Error(ErrorCode::NotSupported,
                        "An imported archive has no published signature to check; use verify=checksum with sha256.");
        checkArchiveDescriptor(archive.get());
        request->archiveFd = UniqueFd(archive.release());
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "create-template", {{"machine", name}, {"verb", "import-template"}},
                  [this, request](const JobReply& reply, const Caller& caller) {
                      startTemplateJob(reply, caller, request);
                  });
} catch (...) {
    throw toDbusError(currentError("ImportTemplate"));
}

void ManagerObject::Clone(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string source, std::string name,
                          std::map<std::string, sdbus::Variant> options)
try {
    CloneRequest request;
    try {
        existingMachine(source);
        validateMachineName(name);
        MethodOptions parsed(std::move(options), {"template", "settings"});
        request = CloneRequest{source, name, parsed.boolean("template").value_or(false),
                               parsed.boolean("settings").value_or(false)};
        if (machines_.find(name))
            throw Error(ErrorCode::AlreadyExists,
                        fmt::format("A machine '{}' already exists; choose another name.", name));
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "clone",
                  {{"machine", name}, {"verb", "clone"}, {"source", source}},
                  [this, request](const JobReply& reply, const Caller& caller) {
                      existingMachine(request.source);
                      if (machines_.isRunning(request.source))
                          throw Error(ErrorCode::Busy,
                                      fmt::format("Machine '{}' is running; stop it first to clone it, so the copy "
                                                  "is consistent.",
                                                  request.source));
                      if (machines_.find(request.name))
                          throw Error(ErrorCode::AlreadyExists,
                                      fmt::format("A machine '{}' already exists; choose another name.",
                                                  request.name));
                      auto job = jobs_.admit("clone", {request.name}, "clone", caller.uid, {request.source});
                      auto path = jobRegistry_.start(
                          job, [this, request](JobContext& context) { cloner_.clone(request, context); },
                          [this, request] { machines_.refresh(request.name); });
                      reply->returnResults(job->id(), sdbus::ObjectPath(path));
                  });
} catch (...) {
    throw toDbusError(currentError("Clone"));
}

void ManagerObject::Convert(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string recipeId,
                            std::map<std::string, sdbus::Variant> options)
try {
    auto request = std::make_shared<RunRequest>();
    auto recipe = std::make_shared<Recipe>();
    auto steps = std::make_shared<std::vector<RecipeStep>>();
    try {
        MethodOptions parsed(std::move(options), {"extras"});
        refreshReadOnlyFlag(name);
        const MachineView& view = existingMachine(name);
        if (recipeId.empty())
            recipeId = "bredos";
        auto recipes = loadRecipes();
        auto found = std::find_if(recipes.begin(), recipes.end(), [&](const Recipe& r) { return r.id == recipeId; });
        if (found == recipes.end())
            throw Error(ErrorCode::NoSuchRecipe,
                        fmt::format("There is no recipe '{}'; 'bredmachine recipes' lists them.", recipeId));
        *recipe = std::move(*found);
        // Applicability first: the tree's OS, its architecture, and whether this host can run it.
        if (auto problem = recipeApplicabilityProblem(*recipe, view.info.osRelease, view.info.architecture);
            !problem.empty())
            throw Error(ErrorCode::NotSupported, problem);
        if (auto problem = foreignArchitectureProblem(view.info.architecture, hostArchitecture()); !problem.empty())
            throw Error(ErrorCode::NotSupported, problem);
        prepareRun(*request, name);
        RecipeVariables variables;
        if (auto configured = config_.recipeVariables.find(recipe->id); configured != config_.recipeVariables.end())
            variables = configured->second;
        if (auto extras = parsed.strings("extras")) {
            for (const auto& package : *extras)
                if (package.empty() || package.front() == '-' ||
                    package.find_first_of(" \t\n") != std::string::npos)
                    throw Error(ErrorCode::InvalidArgs, fmt::format("'{}' is not a package name.", package));
            variables["extras"] = *extras;
        }
        *steps = expandRecipeSteps(*recipe, variables);
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "convert", {{"machine", name}, {"verb", "convert"}, {"recipe", recipe->id}},
                  [this, request, recipe, steps](const JobReply& reply,
                                                 const Caller& caller) {
                      auto job = admitRun("convert", "convert", caller.uid, *request);
                      auto path = jobRegistry_.start(
                          job,
                          [request, recipe, steps](JobContext& context) {
                              runRecipe(*recipe, *steps, *request, context);
                          },
                          [this, name = request->machine] { machines_.refresh(name); });
                      reply->returnResults(job->id(), sdbus::ObjectPath(path));
                  });
} catch (...) {
    throw toDbusError(currentError("Convert"));
}

void ManagerObject::Start(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
                          std::map<std::string, sdbus::Variant> options)
try {
    auto checks = [this](const std::string& machine) {
        refreshReadOnlyFlag(machine);
        const MachineView& view = existingMachine(machine);
        if (view.info.machineClass == MachineClass::Template)
            throw Error(ErrorCode::NotSupported,
                        fmt::format("'{}' is a template; templates are never started. Clone it into a container "
                                    "('bredmachine clone {} NAME') and start that.",
                                    machine, machine));
        if (machines_.isRunning(machine))
            throw Error(ErrorCode::Busy, fmt::format("Machine '{}' is running already.", machine));
        if (auto problem = foreignArchitectureProblem(view.info.architecture, hostArchitecture()); !problem.empty())
            throw Error(ErrorCode::UnsupportedArchitecture, problem);
        return view.info.directory;
    };
    try {
        MethodOptions parsed(std::move(options), {});
        checks(name);
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "manage", {{"machine", name}, {"verb", "start"}},
                  [this, name, checks](const JobReply& reply, const Caller& caller) {
                      auto directory = checks(name);
                      auto job = jobs_.admit("start", {name}, "manage", caller.uid);
                      std::string unit = containerUnitName(name);
                      machines_.setRunState(name, "starting");
                      auto start = [this, name, unit, directory, job](Job::Finish finish) {
                          // A killed nspawn's export mount would make the new one refuse to start: let
                          // systemd unmount it first (a unit it does not know is stopped already).
                          units_.stopUnit(unixExportMountUnitName(name), false,
                                          [this, name, unit, directory, job, finish](std::optional<Error>) {
                                              if (job->cancelRequested()) {
                                                  finish(std::nullopt);
                                                  return;
                                              }
                                              // An enabled container has its unit file: start that, so it
                                              // is the same unit as at boot.
                                              std::error_code error;
                                              if (std::filesystem::exists(config_.unitDirectory / unit, error))
                                                  units_.startUnit(unit, finish);
                                              else
                                                  units_.startContainer(unit, containerService(name, directory),
                                                                        finish);
                                          });
                      };
                      // A container still booting may not heed the halt request (it has no init to
                      // handle it yet), so a canceled start is killed: it has nothing to save yet.
                      auto path = jobRegistry_.startOnLoop(
                          job, start, [this, unit](Job::Finish undone) { units_.stopUnit(unit, true, undone); },
                          [this, name, job] {
                              machines_.setRunState(name, job->failure() ? std::optional<std::string>("failed")
                                                                         : std::nullopt);
                          });
                      reply->returnResults(job->id(), sdbus::ObjectPath(path));
                  });
} catch (...) {
    throw toDbusError(currentError("Start"));
}

void ManagerObject::Stop(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
                         std::map<std::string, sdbus::Variant> options)
try {
    bool force = false;
    try {
        MethodOptions parsed(std::move(options), {"force"});
        force = parsed.boolean("force").value_or(false);
        existingMachine(name);
        if (!machines_.isRunning(name))
            throw Error(ErrorCode::NotRunning, fmt::format("Machine '{}' is not running.", name));
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "manage", {{"machine", name}, {"verb", "stop"}},
                  [this, name, force](const JobReply& reply, const Caller& caller) {
                      const MachineView& view = existingMachine(name);
                      if (!machines_.isRunning(name))
                          throw Error(ErrorCode::NotRunning, fmt::format("Machine '{}' is not running.", name));
                      // Whoever started it (us, machinectl, boot), machined knows its unit.
                      std::string unit = view.unit.empty() ? containerUnitName(name) : view.unit;
                      auto job = jobs_.admit("stop", {name}, "manage", caller.uid);
                      machines_.setRunState(name, "stopping");
                      // systemd's stop job is queued at once and cannot be called off: no cancel handler.
                      auto path = jobRegistry_.startOnLoop(
                          job, [this, unit, force](Job::Finish finish) { units_.stopUnit(unit, force, finish); },
                          {}, [this, name] { machines_.setRunState(name, std::nullopt); });
                      reply->returnResults(job->id(), sdbus::ObjectPath(path));
                  });
} catch (...) {
    throw toDbusError(currentError("Stop"));
}

void ManagerObject::Enable(sdbus::Result<>&& result, std::string name)
try {
    auto checks = [this](const std::string& machine) {
        refreshReadOnlyFlag(machine);
        const MachineView& view = existingMachine(machine);
        if (view.info.machineClass == MachineClass::Template)
            throw Error(ErrorCode::NotSupported,
                        fmt::format("'{}' is a template; templates never start, at boot or otherwise. Clone it into "
                                    "a container ('bredmachine clone {} NAME') and enable that.",
                                    machine, machine));
        return view.info.directory;
    };
    try {
        checks(name);
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "manage", {{"machine", name}, {"verb", "enable"}},
                  [this, name, checks](const DoneReply& reply, const Caller&) {
                      auto directory = checks(name);
                      enableAtBoot(name, directory, [this, name, reply](std::optional<Error> error) {
                          machines_.refresh(name);
                          if (error)
                              return replyError(*reply, *error);
                          spdlog::info("Enabled machine {} to start at boot", name);
                          reply->returnResults();
                      });
                  });
} catch (...) {
    throw toDbusError(currentError("Enable"));
}

void ManagerObject::Disable(sdbus::Result<>&& result, std::string name)
try {
    try {
        existingMachine(name);
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "manage", {{"machine", name}, {"verb", "disable"}},
                  [this, name](const DoneReply& reply, const Caller&) {
                      existingMachine(name);
                      disableAtBoot(name, [this, name, reply](std::optional<Error> error) {
                          machines_.refresh(name);
                          if (error)
                              return replyError(*reply, *error);
                          spdlog::info("Disabled machine {} at boot", name);
                          reply->returnResults();
                      });
                  });
} catch (...) {
    throw toDbusError(currentError("Disable"));
}

void ManagerObject::enableAtBoot(const std::string& name, const std::filesystem::path& directory,
                                 UnitManager::Done done)
{
    std::string unit = containerUnitName(name);
    writeFileAtomically(config_.unitDirectory / unit, containerUnitFile(containerService(name, directory), directory));
    units_.enableUnitFile(unit, [this, name, done](std::optional<Error> error) {
        std::string machinectls = machinectlUnitName(name);
        std::error_code linkError;
        if (error || !std::filesystem::is_symlink(config_.unitDirectory / "machines.target.wants" / machinectls,
                                                  linkError))
            return done(error);
        // Two units starting one machine at boot: ours replaces `machinectl enable`'s.
        units_.disableUnitFiles({machinectls}, done);
    });
}

void ManagerObject::editSettings(const std::string& name, const std::function<void(NspawnSettingsEditor&)>& edit)
{
    if (store_.editSettings(name, edit))
        units_.reload([name](std::optional<Error> error) {
            if (error)
                spdlog::warn("machinectl's unit for '{}' keeps its old settings until systemd reloads: {}", name,
                                error->what());
        });
}

void ManagerObject::disableAtBoot(const std::string& name, UnitManager::Done done)
{
    // Ours, and `machinectl enable`'s, which Enabled reports too.
    std::vector<std::string> enabledUnits;
    std::error_code error;
    std::string ours = containerUnitName(name), machinectls = machinectlUnitName(name);
    if (std::filesystem::exists(config_.unitDirectory / ours, error))
        enabledUnits.push_back(ours);
    if (std::filesystem::is_symlink(config_.unitDirectory / "machines.target.wants" / machinectls, error))
        enabledUnits.push_back(machinectls);
    if (enabledUnits.empty())
        return done(std::nullopt);
    units_.disableUnitFiles(enabledUnits, [this, ours, done](std::optional<Error> failure) {
        if (!failure) {
            std::error_code removeError;
            std::filesystem::remove(config_.unitDirectory / ours, removeError);
        }
        done(failure);
    });
}

namespace {

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

// The container side of the configuration commands: containers, not templates.
void ensureContainer(const MachineView& view)
{
    if (view.info.machineClass == MachineClass::Template)
        throw Error(ErrorCode::NotSupported,
                    fmt::format("'{}' is a template, which is read-only; configure a clone of it instead.",
                                view.info.name));
}

} // namespace

void ManagerObject::Bind(sdbus::Result<>&& result, std::string name, std::string source, std::string destination,
                         std::map<std::string, sdbus::Variant> options)
try {
    BindMount bind;
    bool makeSource = false;
    try {
        ensureContainer(existingMachine(name));
        MethodOptions parsed(std::move(options), {"read_only", "mkdir"});
        bind.source = checkedBindPath(source, "source");
        bind.destination = checkedBindPath(destination.empty() ? source : destination, "destination");
        bind.readOnly = parsed.boolean("read_only").value_or(false);
        makeSource = parsed.boolean("mkdir").value_or(false);
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    // The host path is looked at only once the caller may bind it: a stranger learns nothing of it.
    authorizeThen(std::move(result), "bind",
                  {{"machine", name},
                   {"verb", "bind"},
                   {"source", bind.source},
                   {"destination", bind.destination},
                   {"read_only", bind.readOnly ? "true" : "false"},
                   {"mkdir", makeSource ? "true" : "false"}},
                  [this, name, bind, makeSource](const DoneReply& reply, const Caller&) {
                      ensureContainer(existingMachine(name));
                      ensureNoJob(name);
                      std::error_code existsError;
                      if (!makeSource && !std::filesystem::exists(bind.source, existsError))
                          throw Error(ErrorCode::InvalidArgs,
                                      fmt::format("The source {} does not exist on the host; create it, or pass "
                                                  "mkdir.",
                                                  bind.source));
                      if (makeSource) {
                          std::error_code error;
                          std::filesystem::create_directories(bind.source, error);
                          if (error)
                              throw Error(ErrorCode::Failed, fmt::format("cannot create {}: {}", bind.source,
                                                                         error.message()));
                      }
                      editSettings(name, [&](NspawnSettingsEditor& settings) { settings.setBind(bind); });
                      machines_.refresh(name);
                      if (!machines_.isRunning(name)) {
                          reply->returnResults();
                          return;
                      }
                      // Running: apply it now, as `machinectl bind` does.
                      machines_.machined().bindMount(
                          name, bind.source, bind.destination, bind.readOnly, true,
                          [reply, name](std::optional<std::string> error) {
                              if (error)
                                  reply->returnError(toDbusError(Error(
                                      ErrorCode::Failed,
                                      fmt::format("The bind is saved for the next start of '{}', but could not be "
                                                  "applied now: {}",
                                                  name, *error))));
                              else
                                  reply->returnResults();
                          });
                  });
} catch (...) {
    throw toDbusError(currentError("Bind"));
}

void ManagerObject::Unbind(sdbus::Result<>&& result, std::string name, std::string destination)
try {
    try {
        existingMachine(name);
        checkedBindPath(destination, "destination");
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "bind", {{"machine", name}, {"verb", "unbind"}, {"destination", destination}},
                  [this, name, destination](const DoneReply& reply, const Caller&) {
                      editSettings(name, [&](NspawnSettingsEditor& settings) {
                          if (!settings.removeBind(destination))
                              throw Error(ErrorCode::InvalidArgs,
                                          fmt::format("'{}' has no bind at {}; 'bredmachine status {}' lists them.",
                                                      name, destination, name));
                      });
                      machines_.refresh(name);
                      reply->returnResults();
                  });
} catch (...) {
    throw toDbusError(currentError("Unbind"));
}

void ManagerObject::SetNetwork(sdbus::Result<>&& result, std::string name, std::map<std::string, sdbus::Variant> settings)
try {
    NetworkSettings hostSide;
    std::optional<ContainerNetwork> containerSide;
    try {
        ensureContainer(existingMachine(name));
        MethodOptions parsed(std::move(settings), {"mode", "bridge", "address", "gateway", "dns", "dhcp"});
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
            containerSide = configuresInside ? inside : ContainerNetwork{true, {}, {}, {}};
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    std::string dnsList;
    for (const auto& server : containerSide ? containerSide->dns : std::vector<std::string>{})
        dnsList += (dnsList.empty() ? "" : ",") + server;
    authorizeThen(std::move(result), "configure",
                  {{"machine", name},
                   {"verb", "set-network"},
                   {"mode", hostSide.mode},
                   {"bridge", hostSide.bridge},
                   {"address", containerSide ? containerSide->address : ""},
                   {"gateway", containerSide ? containerSide->gateway : ""},
                   {"dns", dnsList},
                   {"dhcp", containerSide && containerSide->dhcp ? "true" : "false"}},
                  [this, name, hostSide, containerSide](const DoneReply& reply, const Caller&) {
                      const MachineView& view = existingMachine(name);
                      ensureContainer(view);
                      ensureNoJob(name);
                      UniqueFd treeFd(open(view.info.directory.c_str(),
                                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                      if (!treeFd)
                          throw Error(ErrorCode::NoSuchMachine, fmt::format("No machine '{}' exists.", name));
                      writeContainerNetwork(treeFd.get(), containerSide);
                      editSettings(name, [&](NspawnSettingsEditor& settings) { settings.setNetwork(hostSide); });
                      machines_.refresh(name);
                      reply->returnResults();
                  });
} catch (...) {
    throw toDbusError(currentError("SetNetwork"));
}

RunRequest& ManagerObject::prepareRun(RunRequest& request, const std::string& name) const
{
    refreshReadOnlyFlag(name);
    const MachineView& view = existingMachine(name);
    if (view.info.machineClass == MachineClass::Template)
        throw Error(ErrorCode::NotSupported,
                    fmt::format("'{}' is a template; templates are read-only and never run. Clone it into a "
                                "container ('bredmachine clone {} NAME') and run commands there.",
                                name, name));
    request.machine = name;
    request.directory = view.info.directory;
    request.running = machines_.isRunning(name);
    if (!request.running)
        if (auto problem = foreignArchitectureProblem(view.info.architecture, hostArchitecture()); !problem.empty())
            throw Error(ErrorCode::UnsupportedArchitecture, problem);
    return request;
}

std::shared_ptr<Job> ManagerObject::admitRun(const std::string& type, const std::string& action, uid_t uid,
                                             RunRequest& request)
{
    prepareRun(request, request.machine);
    // A stopped machine's tree is booted by nspawn for the command, so the job holds it; a running one
    // is not held: several commands, and a stop, may go on at once.
    if (request.running)
        return jobs_.admit(type, {}, action, uid, {}, request.machine);
    return jobs_.admit(type, {request.machine}, action, uid);
}

void ManagerObject::AddUser(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string user,
                            std::map<std::string, sdbus::Variant> options)
try {
    auto request = std::make_shared<RunRequest>();
    Details details{{"machine", name}, {"verb", "add-user"}, {"user", user}};
    try {
        MethodOptions parsed(std::move(options), {"password_hash", "groups", "shell"});
        prepareRun(*request, name);
        auto groups = parsed.strings("groups");
        auto shell = parsed.string("shell");
        UserAddition addition = userAddition(user, parsed.string("password_hash"), groups, shell);
        request->command.argv = std::move(addition.command);
        request->input = std::move(addition.input);
        std::string groupList;
        for (const auto& group : groups.value_or(std::vector<std::string>{}))
            groupList += (groupList.empty() ? "" : ",") + group;
        details.insert({{"groups", groupList}, {"shell", shell.value_or("")}});
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "configure", details,
                  [this, request, user](const JobReply& reply, const Caller& caller) {
                      auto job = admitRun("add-user", "configure", caller.uid, *request);
                      auto path = jobRegistry_.start(
                          job,
                          [request, user](JobContext& context) {
                              std::vector<std::string> output;
                              int status = runInContainer(*request, context, [&](const std::string& line) {
                                  context.log(LOG_INFO, line);
                                  // The last lines explain a failure; a flood must not fill memory.
                                  if (output.size() == 15)
                                      output.erase(output.begin());
                                  output.push_back(line);
                              });
                              checkUserAddStatus(status, user, request->machine, output);
                              context.log(LOG_INFO, fmt::format("User '{}' added to '{}'.", user, request->machine));
                          },
                          [] {});
                      reply->returnResults(job->id(), sdbus::ObjectPath(path));
                  });
} catch (...) {
    throw toDbusError(currentError("AddUser"));
}

void ManagerObject::Run(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
                        std::vector<std::string> argv, sdbus::UnixFd stdinFd, sdbus::UnixFd stdoutFd,
                        sdbus::UnixFd stderrFd, std::map<std::string, sdbus::Variant> options)
try {
    auto request = std::make_shared<RunRequest>();
    std::string commandLine;
    try {
        MethodOptions parsed(std::move(options), {"user", "env", "cwd"});
        prepareRun(*request, name);
        request->command.argv = std::move(argv);
        request->command.user = parsed.string("user").value_or("");
        request->command.environment = parsed.strings("env").value_or(std::vector<std::string>{});
        request->command.workingDirectory = parsed.string("cwd").value_or("");
        request->stdinFd = UniqueFd(stdinFd.release());
        request->stdoutFd = UniqueFd(stdoutFd.release());
        request->stderrFd = UniqueFd(stderrFd.release());
        validateContainerCommand(request->command);
        for (const auto& word : request->command.argv)
            commandLine += (commandLine.empty() ? "" : " ") + word;
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "shell",
                  {{"machine", name},
                   {"verb", "run"},
                   {"command", commandLine},
                   {"user", request->command.user.empty() ? std::string("root") : request->command.user},
                   {"cwd", request->command.workingDirectory}},
                  [this, request](const JobReply& reply, const Caller& caller) {
                      auto job = admitRun("run", "shell", caller.uid, *request);
                      auto path = jobRegistry_.start(
                          job,
                          [request](JobContext& context) { context.setExitStatus(runInContainer(*request, context)); },
                          [] {});
                      reply->returnResults(job->id(), sdbus::ObjectPath(path));
                  });
} catch (...) {
    throw toDbusError(currentError("Run"));
}

void ManagerObject::Remove(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name)
try {
    try {
        existingMachine(name);
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(
        std::move(result), "remove", {{"machine", name}, {"verb", "remove"}},
        [this, name](const JobReply& reply, const Caller& caller) {
            // The state may have changed while polkit was asked: check again.
            existingMachine(name);
            ensureIdle(name, "remove");
            auto job = jobs_.admit("remove", {name}, "remove", caller.uid);
            // A removed machine must not be started at boot.
            disableAtBoot(name, [this, name, job, reply](std::optional<Error> error) {
                if (error) {
                    jobs_.release(job->id());
                    return replyError(*reply, *error);
                }
                try {
                    auto path = jobRegistry_.start(
                        job, [this, name](JobContext& context) { store_.remove(name, context); },
                        [this, name] { machines_.refresh(name); });
                    reply->returnResults(job->id(), sdbus::ObjectPath(path));
                } catch (...) {
                    replyError(*reply, currentError("Remove"));
                }
            });
        });
} catch (...) {
    throw toDbusError(currentError("Remove"));
}

void ManagerObject::Rename(sdbus::Result<>&& result, std::string name, std::string newName)
try {
    try {
        existingMachine(name);
        validateMachineName(newName);
        if (machines_.find(newName))
            throw Error(ErrorCode::AlreadyExists,
                        fmt::format("A machine '{}' already exists; choose another name.", newName));
    } catch (const Error& error) {
        replyError(result, error);
        return;
    }
    authorizeThen(std::move(result), "remove", {{"machine", name}, {"verb", "rename"}, {"new_name", newName}},
                    [this, name, newName](const DoneReply& reply, const Caller&) {
                        bool enabled = existingMachine(name).info.enabled;
                        bool container = existingMachine(name).info.machineClass == MachineClass::Container;
                        ensureIdle(name, "rename");
                        ensureIdle(newName, "rename");
                        // Held from this check to the reply: no Start or job can slip in while systemd
                        // moves the boot unit.
                        auto hold = jobs_.hold({name, newName});
                        auto finish = [this, name, newName, reply, hold](std::optional<Error> error) {
                            hold->release();
                            machines_.refresh(name);
                            machines_.refresh(newName);
                            if (error)
                                return replyError(*reply, *error);
                            reply->returnResults();
                        };
                        if (!enabled) {
                            try {
                                store_.rename(name, newName);
                                if (container)
                                    editSettings(newName, [](NspawnSettingsEditor&) {});
                            } catch (const Error& failure) {
                                return finish(failure);
                            }
                            spdlog::info("Renamed machine {} to {}", name, newName);
                            return finish(std::nullopt);
                        }
                        // The boot-time unit names the machine: move it to the new name.
                        disableAtBoot(name, [this, name, newName, container, finish](std::optional<Error> error) {
                            if (error)
                                return finish(error);
                            try {
                                store_.rename(name, newName);
                                if (container)
                                    editSettings(newName, [](NspawnSettingsEditor&) {});
                                spdlog::info("Renamed machine {} to {}", name, newName);
                                enableAtBoot(newName, store_.directory() / newName, finish);
                            } catch (const Error& failure) {
                                finish(failure);
                            }
                        });
                    });
} catch (...) {
    throw toDbusError(currentError("Rename"));
}

} // namespace bred
