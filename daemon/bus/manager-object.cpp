#include "manager-object.h"

#include "bus-names.h"
#include "current-error.h"
#include "dbus-error.h"
#include "container-run.h"
#include "container-user.h"
#include "recipe-runner.h"
#include "method-options.h"
#include "names.h"
#include "refusals.h"
#include "utf8.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <csignal>
#include <syslog.h>

namespace bred {
namespace {

template <typename... Results>
void replyError(sdbus::Result<Results...>& result, const Error& error)
{
    result.returnError(toDbusError(error));
}

// The request `prepare` parses and checks; its Error becomes the method's error reply instead (and nullopt).
template <typename Prepare, typename... Results>
auto prepared(sdbus::Result<Results...>& result, const Prepare& prepare) -> std::optional<decltype(prepare())>
{
    try {
        return prepare();
    } catch (const Error& error) {
        replyError(result, error);
        return std::nullopt;
    }
}

// `request` once `check` (see machine-requests.h) accepts it as the machines are now; throws its Error.
template <typename Request, typename Check>
Request checked(Request request, const Check& check, const MachineStateView& state)
{
    check(request, state);
    return request;
}

} // namespace

const MachineInfo* ManagerObject::RegistryState::find(const std::string& name) const
{
    const MachineView* view = machines_.find(name);
    return view ? &view->info : nullptr;
}

bool ManagerObject::RegistryState::isRunning(const std::string& name) const { return machines_.isRunning(name); }

bool ManagerObject::RegistryState::isHeld(const std::string& name) const { return jobs_.isMachineHeld(name); }

ManagerObject::ManagerObject(sdbus::IConnection& bus, const Config& config, MachineStore& store,
                             MachineRegistry& machines, JobManager& jobs, JobRegistry& jobRegistry,
                             PolkitAuthority& polkit, UnitManager& units) :
    AdaptorInterfaces(bus, sdbus::ObjectPath{bus::managerPath}),
    config_(config),
    installer_(store, InstallLimits{DownloadLimits{config.maxDownloadBytes, config.connectTimeout,
                                                   config.lowSpeedTimeout, 1024, config.downloadRetries},
                                    config.maxTreeBytes}),
    cloner_(store),
    exporter_(store),
    settings_(store),
    lifecycle_(units, store, settings_, config.unitDirectory),
    store_(store),
    machines_(machines),
    jobs_(jobs),
    jobRegistry_(jobRegistry),
    polkit_(polkit),
    machineState_(machines, jobs)
{
    registerAdaptor();
    machines_.setAnnouncers(
        [this](const std::string& name, const std::string& path) { emitMachineNew(name, sdbus::ObjectPath{path}); },
        [this](const std::string& name, const std::string& path) {
            emitMachineRemoved(name, sdbus::ObjectPath{path});
        });
    jobRegistry_.setAnnouncers(
        [this](std::uint32_t id, const std::string& path) { emitJobNew(id, sdbus::ObjectPath{path}); },
        [this](std::uint32_t id, const std::string& path, const std::string& jobResult, const std::string& errorName,
               const std::string& errorMessage) {
            emitJobRemoved(id, sdbus::ObjectPath{path}, jobResult, errorName, errorMessage);
        });
}

ManagerObject::~ManagerObject()
{
    machines_.setAnnouncers({}, {});
    jobRegistry_.setAnnouncers({}, {});
    unregisterAdaptor();
}

Caller ManagerObject::currentCaller() const { return Caller::fromMessage(dbus::currentMessage(getObject())); }

template <typename Work, typename... Results>
void ManagerObject::authorizeThen(sdbus::Result<Results...>&& result, const std::string& action, const Details& details,
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
    bred::existingMachine(name, machineState_);
    return *machines_.find(name);
}

void ManagerObject::refreshReadOnlyFlag(const std::string& name) const
{
    // The read-only flag (what makes a template) can change without an inotify event: look again.
    if (isValidMachineName(name))
        machines_.refresh(name);
}

// Every bus method is a function-try-block: whatever escapes its body reaches the caller as a D-Bus error
// instead of unwinding through sd-bus (see current-error.h).
std::vector<sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>> ManagerObject::ListMachines()
try {
    std::vector<sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>> list;
    for (const MachineView* machine : machines_.list())
        list.emplace_back(machine->info.name, std::string(machineClassName(machine->info.machineClass)), machine->state,
                          sdbus::ObjectPath(bus::machinePath(machine->info.name)));
    return list;
} catch (...) {
    throw toDbusError(currentError("ListMachines"));
}

std::vector<sdbus::Struct<std::string, std::string, std::string, std::string, std::string, uint64_t, sdbus::ObjectPath>>
ManagerObject::ListMachinesEx(const uint64_t& flags)
try {
    if (flags & ~bus::listMachinesMeasureDiskUsage)
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("ListMachinesEx takes the flags 0 or 1 (measure disk usage), not {}.", flags));
    std::vector<
        sdbus::Struct<std::string, std::string, std::string, std::string, std::string, uint64_t, sdbus::ObjectPath>>
        list;
    for (const MachineView* machine : machines_.list()) {
        const auto& info = machine->info;
        list.emplace_back(info.name, std::string(machineClassName(info.machineClass)), machine->state,
                          escapeInvalidUtf8(osDisplayName(info.osRelease)), escapeInvalidUtf8(info.architecture),
                          machines_.diskUsage(info.name, flags & bus::listMachinesMeasureDiskUsage),
                          sdbus::ObjectPath(bus::machinePath(info.name)));
    }
    return list;
} catch (...) {
    throw toDbusError(currentError("ListMachinesEx"));
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
    for (const auto& entry : loadCatalog().listing())
        // Catalog files are the administrator's, but a bad byte in one must not fail the listing.
        list.emplace_back(escapeInvalidUtf8(entry.id), escapeInvalidUtf8(entry.name),
                          escapeInvalidUtf8(entry.architectures), escapeInvalidUtf8(entry.url));
    return list;
} catch (...) {
    throw toDbusError(currentError("ListDistributions"));
}

std::vector<sdbus::Struct<std::string, std::string, std::string, bool>>
ManagerObject::ListDistributionReleases(const std::string& id)
try {
    std::vector<sdbus::Struct<std::string, std::string, std::string, bool>> list;
    for (const auto& entry : loadCatalog().releaseListing(id))
        list.emplace_back(escapeInvalidUtf8(entry.release), escapeInvalidUtf8(entry.name),
                          escapeInvalidUtf8(entry.architectures), entry.isDefault);
    return list;
} catch (...) {
    throw toDbusError(currentError("ListDistributionReleases"));
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

void ManagerObject::startTemplateJob(const JobReply& reply, const Caller& caller,
                                     const std::shared_ptr<TemplateRequest>& request)
{
    checkTemplate(*request, machineState_);
    const std::string& name = request->name;
    auto job = jobs_.admit("create-template", {name}, "create-template", caller.uid);
    auto path = jobRegistry_.start(
        job, [this, request](JobContext& context) { installer_.install(*request, context); },
        [this, name] { machines_.refresh(name); });
    reply->returnResults(job->id(), sdbus::ObjectPath(path));
}

void ManagerObject::CreateTemplate(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
                                   std::string source, std::map<std::string, sdbus::Variant> options)
try {
    auto request = prepared(result, [&] {
                       return std::make_shared<TemplateRequest>(checked(
                           parseCreateTemplate(name, source, toOptionMap(options), [this] { return loadCatalog(); }),
                           checkTemplate, machineState_));
                   }).value_or(nullptr);
    if (!request)
        return;
    authorizeThen(
        std::move(result), "create-template", {{"machine", name}, {"verb", "create-template"}, {"source", source}},
        [this, request](const JobReply& reply, const Caller& caller) { startTemplateJob(reply, caller, request); });
} catch (...) {
    throw toDbusError(currentError("CreateTemplate"));
}

void ManagerObject::ImportTemplate(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
                                   sdbus::UnixFd archive, std::map<std::string, sdbus::Variant> options)
try {
    auto request = prepared(result, [&] {
                       return std::make_shared<TemplateRequest>(
                           checked(parseImportTemplate(name, UniqueFd(archive.release()), toOptionMap(options)),
                                   checkTemplate, machineState_));
                   }).value_or(nullptr);
    if (!request)
        return;
    authorizeThen(
        std::move(result), "create-template", {{"machine", name}, {"verb", "import-template"}},
        [this, request](const JobReply& reply, const Caller& caller) { startTemplateJob(reply, caller, request); });
} catch (...) {
    throw toDbusError(currentError("ImportTemplate"));
}

void ManagerObject::Clone(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string source, std::string name,
                          std::map<std::string, sdbus::Variant> options)
try {
    auto request = prepared(
        result, [&] { return checked(parseClone(source, name, toOptionMap(options)), checkClone, machineState_); });
    if (!request)
        return;
    authorizeThen(std::move(result), "clone", {{"machine", name}, {"verb", "clone"}, {"source", source}},
                  [this, request = *request](const JobReply& reply, const Caller& caller) {
                      checkClone(request, machineState_);
                      auto job = jobs_.admit("clone", {request.name}, "clone", caller.uid, {request.source});
                      auto path = jobRegistry_.start(
                          job, [this, request](JobContext& context) { cloner_.clone(request, context); },
                          [this, request] { machines_.refresh(request.name); });
                      reply->returnResults(job->id(), sdbus::ObjectPath(path));
                  });
} catch (...) {
    throw toDbusError(currentError("Clone"));
}

void ManagerObject::ExportMachine(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
                                  sdbus::UnixFd archive, std::map<std::string, sdbus::Variant> options)
try {
    auto request =
        prepared(result, [&] {
            return std::make_shared<ExportRequest>(checked(
                parseExport(name, UniqueFd(archive.release()), toOptionMap(options)), checkExport, machineState_));
        }).value_or(nullptr);
    if (!request)
        return;
    authorizeThen(std::move(result), "export", {{"machine", name}, {"verb", "export"}},
                  [this, request](const JobReply& reply, const Caller& caller) {
                      checkExport(*request, machineState_);
                      // Held as a reader, as Clone holds its source: no start, remove or rename meanwhile.
                      auto job = jobs_.admit("export", {}, "export", caller.uid, {request->name}, request->name);
                      auto path = jobRegistry_.start(
                          job, [this, request](JobContext& context) { exporter_.exportMachine(*request, context); },
                          [] {});
                      reply->returnResults(job->id(), sdbus::ObjectPath(path));
                  });
} catch (...) {
    throw toDbusError(currentError("ExportMachine"));
}

void ManagerObject::Convert(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string recipeId,
                            std::map<std::string, sdbus::Variant> options)
try {
    auto conversion = prepared(result, [&] {
                          auto request = std::make_shared<const ConvertRequest>(parseConvert(
                              name, recipeId, toOptionMap(options), loadRecipes(), config_.recipeVariables));
                          refreshReadOnlyFlag(name);
                          checkConvert(*request, machineState_);
                          return request;
                      }).value_or(nullptr);
    if (!conversion)
        return;
    authorizeThen(
        std::move(result), "convert", {{"machine", name}, {"verb", "convert"}, {"recipe", conversion->recipe.id}},
        [this, conversion](const JobReply& reply, const Caller& caller) {
            refreshReadOnlyFlag(conversion->machine);
            auto request = std::make_shared<RunRequest>();
            request->machine = conversion->machine;
            auto job = admitRun("convert", "convert", caller.uid, *request, checkConvert(*conversion, machineState_));
            auto path = jobRegistry_.start(
                job,
                [request, conversion](JobContext& context) {
                    runRecipe(conversion->recipe, conversion->steps, *request, context);
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
    auto checks = [this](const MachineRequest& request, const MachineStateView& state) {
        refreshReadOnlyFlag(request.name);
        return checkStart(request, state);
    };
    auto request =
        prepared(result, [&] { return checked(parseStart(name, toOptionMap(options)), checks, machineState_); });
    if (!request)
        return;
    authorizeThen(std::move(result), "manage", {{"machine", name}, {"verb", "start"}},
                  [this, name, request = *request, checks](const JobReply& reply, const Caller& caller) {
                      auto directory = checks(request, machineState_);
                      auto job = jobs_.admit("start", {name}, "manage", caller.uid);
                      machines_.setRunState(name, "starting");
                      auto path = jobRegistry_.startOnLoop(
                          job, lifecycle_.start(name, directory, job), lifecycle_.cancelStart(name), [this, name, job] {
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
    auto request =
        prepared(result, [&] { return checked(parseStop(name, toOptionMap(options)), checkStop, machineState_); });
    if (!request)
        return;
    authorizeThen(std::move(result), "manage", {{"machine", name}, {"verb", "stop"}},
                  [this, name, request = *request](const JobReply& reply, const Caller& caller) {
                      checkStop(request, machineState_);
                      std::string unit = unitToStop(name, existingMachine(name).unit);
                      auto job = jobs_.admit("stop", {name}, "manage", caller.uid);
                      machines_.setRunState(name, "stopping");
                      auto path = jobRegistry_.startOnLoop(job, lifecycle_.stop(unit, request.force), {},
                                                           [this, name] { machines_.setRunState(name, std::nullopt); });
                      reply->returnResults(job->id(), sdbus::ObjectPath(path));
                  });
} catch (...) {
    throw toDbusError(currentError("Stop"));
}

void ManagerObject::Enable(sdbus::Result<>&& result, std::string name)
try {
    auto checks = [this](const MachineRequest& request, const MachineStateView& state) {
        refreshReadOnlyFlag(request.name);
        return checkEnable(request, state);
    };
    auto request = prepared(result, [&] { return checked(parseMachine(name), checks, machineState_); });
    if (!request)
        return;
    authorizeThen(std::move(result), "manage", {{"machine", name}, {"verb", "enable"}},
                  [this, name, request = *request, checks](const DoneReply& reply, const Caller&) {
                      auto directory = checks(request, machineState_);
                      lifecycle_.enableAtBoot(name, directory, [this, name, reply](std::optional<Error> error) {
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
    auto request = prepared(result, [&] { return checked(parseMachine(name), checkDisable, machineState_); });
    if (!request)
        return;
    authorizeThen(std::move(result), "manage", {{"machine", name}, {"verb", "disable"}},
                  [this, name, request = *request](const DoneReply& reply, const Caller&) {
                      checkDisable(request, machineState_);
                      lifecycle_.disableAtBoot(name, [this, name, reply](std::optional<Error> error) {
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

void ManagerObject::killMachine(const DoneReply& reply, const std::string& name, const std::string& whom, int signal)
{
    machines_.machined().killMachine(
        name, whom, signal, [reply, name](std::optional<std::pair<std::string, std::string>> error) {
            if (!error)
                return reply->returnResults();
            if (error->first == "org.freedesktop.machine1.NoSuchMachine")
                return replyError(*reply, refusal::notRunning(name));
            replyError(*reply, Error(ErrorCode::Failed, fmt::format("systemd-machined did not signal machine '{}': {}",
                                                                    name, error->second)));
        });
}

void ManagerObject::Reboot(sdbus::Result<>&& result, std::string name)
try {
    auto request = prepared(result, [&] { return checked(parseMachine(name), checkReboot, machineState_); });
    if (!request)
        return;
    authorizeThen(std::move(result), "manage", {{"machine", name}, {"verb", "reboot"}},
                  [this, name, request = *request](const DoneReply& reply, const Caller&) {
                      checkReboot(request, machineState_);
                      spdlog::info("Rebooting machine {}", name);
                      // As machinectl reboot: systemd as the container's init reboots on SIGINT.
                      killMachine(reply, name, "leader", SIGINT);
                  });
} catch (...) {
    throw toDbusError(currentError("Reboot"));
}

void ManagerObject::Kill(sdbus::Result<>&& result, std::string name, std::string whom, int32_t signal)
try {
    auto request = prepared(result, [&] { return checked(parseKill(name, whom, signal), checkKill, machineState_); });
    if (!request)
        return;
    authorizeThen(std::move(result), "manage",
                  {{"machine", name}, {"verb", "kill"}, {"whom", whom}, {"signal", std::to_string(signal)}},
                  [this, request = *request](const DoneReply& reply, const Caller&) {
                      checkKill(request, machineState_);
                      spdlog::info("Sending signal {} to {} of machine {}", request.signal, request.whom, request.name);
                      killMachine(reply, request.name, request.whom, request.signal);
                  });
} catch (...) {
    throw toDbusError(currentError("Kill"));
}

void ManagerObject::OpenLogin(sdbus::Result<sdbus::UnixFd, std::string>&& result, std::string name)
try {
    auto request = prepared(result, [&] { return checked(parseMachine(name), checkOpenLogin, machineState_); });
    if (!request)
        return;
    using LoginReply = std::shared_ptr<sdbus::Result<sdbus::UnixFd, std::string>>;
    authorizeThen(
        std::move(result), "shell", {{"machine", name}, {"verb", "login"}},
        [this, name, request = *request](const LoginReply& reply, const Caller& caller) {
            checkOpenLogin(request, machineState_);
            machines_.machined().openLogin(
                name, [reply, name, caller](UniqueFd master, const std::string& ptyPath,
                                            std::optional<std::pair<std::string, std::string>> error) {
                    if (!error) {
                        spdlog::info("Opened a login on {} of machine {} for uid {}", ptyPath, name, caller.uid);
                        return reply->returnResults(sdbus::UnixFd(master.release(), sdbus::adopt_fd), ptyPath);
                    }
                    if (error->first == "org.freedesktop.machine1.NoSuchMachine")
                        return replyError(*reply, refusal::notRunning(name));
                    replyError(*reply, Error(ErrorCode::Failed,
                                             fmt::format("systemd-machined could not open a login on machine '{}' "
                                                         "(it needs systemd and D-Bus running inside): {}",
                                                         name, error->second)));
                });
        });
} catch (...) {
    throw toDbusError(currentError("OpenLogin"));
}

void ManagerObject::Bind(sdbus::Result<>&& result, std::string name, std::string source, std::string destination,
                         std::map<std::string, sdbus::Variant> options)
try {
    auto request = prepared(result, [&] {
        return checked(parseBind(name, source, destination, toOptionMap(options)), checkBind, machineState_);
    });
    if (!request)
        return;
    const BindMount& bind = request->bind;
    // The host path is looked at only once the caller may bind it: a stranger learns nothing of it.
    authorizeThen(std::move(result), "bind",
                  {{"machine", name},
                   {"verb", "bind"},
                   {"source", bind.source},
                   {"destination", bind.destination},
                   {"read_only", bind.readOnly ? "true" : "false"},
                   {"mkdir", request->makeSource ? "true" : "false"}},
                  [this, name, request = *request, bind](const DoneReply& reply, const Caller&) {
                      checkBind(request, machineState_);
                      lifecycle_.reloadIfNeeded(name, settings_.bind(request));
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
    auto request =
        prepared(result, [&] { return checked(parseUnbind(name, destination), checkUnbind, machineState_); });
    if (!request)
        return;
    authorizeThen(std::move(result), "bind", {{"machine", name}, {"verb", "unbind"}, {"destination", destination}},
                  [this, name, request = *request](const DoneReply& reply, const Caller&) {
                      checkUnbind(request, machineState_);
                      lifecycle_.reloadIfNeeded(name, settings_.unbind(request));
                      machines_.refresh(name);
                      reply->returnResults();
                  });
} catch (...) {
    throw toDbusError(currentError("Unbind"));
}

void ManagerObject::SetNetwork(sdbus::Result<>&& result, std::string name,
                               std::map<std::string, sdbus::Variant> settings)
try {
    auto request = prepared(
        result, [&] { return checked(parseSetNetwork(name, toOptionMap(settings)), checkSetNetwork, machineState_); });
    if (!request)
        return;
    const NetworkSettings& hostSide = request->hostSide;
    const std::optional<ContainerNetwork>& containerSide = request->containerSide;
    authorizeThen(std::move(result), "configure",
                  {{"machine", name},
                   {"verb", "set-network"},
                   {"mode", hostSide.mode},
                   {"bridge", hostSide.bridge},
                   {"address", containerSide ? containerSide->address : ""},
                   {"gateway", containerSide ? containerSide->gateway : ""},
                   {"dns", containerSide ? fmt::format("{}", fmt::join(containerSide->dns, ",")) : ""},
                   {"dhcp", containerSide && containerSide->dhcp ? "true" : "false"}},
                  [this, name, request = *request](const DoneReply& reply, const Caller&) {
                      checkSetNetwork(request, machineState_);
                      lifecycle_.reloadIfNeeded(name,
                                                settings_.setNetwork(request, existingMachine(name).info.directory));
                      machines_.refresh(name);
                      reply->returnResults();
                  });
} catch (...) {
    throw toDbusError(currentError("SetNetwork"));
}

std::shared_ptr<Job> ManagerObject::admitRun(const std::string& type, const std::string& action, uid_t uid,
                                             RunRequest& request, const RunTarget& target)
{
    request.directory = target.directory;
    request.running = target.running;
    request.limits = target.limits;
    // A stopped machine's tree is booted by nspawn for the command, so the job holds it; a running one
    // is not held: several commands, and a stop, may go on at once.
    if (request.running)
        return jobs_.admit(type, {}, action, uid, {}, request.machine);
    return jobs_.admit(type, {request.machine}, action, uid);
}

void ManagerObject::AddUser(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string user,
                            std::map<std::string, sdbus::Variant> options)
try {
    auto addition = prepared(result, [&] {
        auto request = parseAddUser(name, user, toOptionMap(options));
        refreshReadOnlyFlag(name);
        checkRun(name, machineState_);
        return request;
    });
    if (!addition)
        return;
    auto request = std::make_shared<RunRequest>();
    request->machine = name;
    request->command.argv = std::move(addition->addition.command);
    request->input = std::move(addition->addition.input);
    authorizeThen(std::move(result), "configure",
                  {{"machine", name},
                   {"verb", "add-user"},
                   {"user", user},
                   {"groups", fmt::format("{}", fmt::join(addition->groups, ","))},
                   {"shell", addition->shell}},
                  [this, request, user](const JobReply& reply, const Caller& caller) {
                      refreshReadOnlyFlag(request->machine);
                      auto job = admitRun("add-user", "configure", caller.uid, *request,
                                          checkRun(request->machine, machineState_));
                      auto path = jobRegistry_.start(
                          job, [request, user](JobContext& context) { addUser(*request, user, context); }, [] {});
                      reply->returnResults(job->id(), sdbus::ObjectPath(path));
                  });
} catch (...) {
    throw toDbusError(currentError("AddUser"));
}

void ManagerObject::Run(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
                        std::vector<std::string> argv, sdbus::UnixFd stdinFd, sdbus::UnixFd stdoutFd,
                        sdbus::UnixFd stderrFd, std::map<std::string, sdbus::Variant> options)
try {
    auto request = prepared(result, [&] {
                       auto request = std::make_shared<RunRequest>(
                           parseRun(name, std::move(argv), UniqueFd(stdinFd.release()), UniqueFd(stdoutFd.release()),
                                    UniqueFd(stderrFd.release()), toOptionMap(options)));
                       refreshReadOnlyFlag(name);
                       checkRun(name, machineState_);
                       return request;
                   }).value_or(nullptr);
    if (!request)
        return;
    authorizeThen(
        std::move(result), "shell",
        {{"machine", name},
         {"verb", "run"},
         {"command", fmt::format("{}", fmt::join(request->command.argv, " "))},
         {"user", request->command.user.empty() ? std::string("root") : request->command.user},
         {"cwd", request->command.workingDirectory}},
        [this, request](const JobReply& reply, const Caller& caller) {
            refreshReadOnlyFlag(request->machine);
            auto job = admitRun("run", "shell", caller.uid, *request, checkRun(request->machine, machineState_));
            auto path = jobRegistry_.start(
                job, [request](JobContext& context) { context.setExitStatus(runInContainer(*request, context)); },
                [] {});
            reply->returnResults(job->id(), sdbus::ObjectPath(path));
        });
} catch (...) {
    throw toDbusError(currentError("Run"));
}

void ManagerObject::Remove(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name)
try {
    auto request = prepared(result, [&] { return checked(parseMachine(name), checkRemove, machineState_); });
    if (!request)
        return;
    authorizeThen(std::move(result), "remove", {{"machine", name}, {"verb", "remove"}},
                  [this, name, request = *request](const JobReply& reply, const Caller& caller) {
                      checkRemove(request, machineState_);
                      auto job = jobs_.admit("remove", {name}, "remove", caller.uid);
                      // A removed machine must not be started at boot.
                      lifecycle_.disableAtBoot(name, [this, name, job, reply](std::optional<Error> error) {
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
    auto request = prepared(result, [&] { return checked(parseRename(name, newName), checkRename, machineState_); });
    if (!request)
        return;
    authorizeThen(std::move(result), "remove", {{"machine", name}, {"verb", "rename"}, {"new_name", newName}},
                  [this, name, newName, request = *request](const DoneReply& reply, const Caller&) {
                      checkRename(request, machineState_);
                      bool enabled = existingMachine(name).info.enabled;
                      MachineClass machineClass = existingMachine(name).info.machineClass;
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
                      lifecycle_.rename(request, machineClass, enabled, finish);
                  });
} catch (...) {
    throw toDbusError(currentError("Rename"));
}

void ManagerObject::copyFiles(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, CopyRequest request)
{
    const bool into = request.direction == CopyDirection::IntoMachine;
    const std::string verb = copyVerb(request.direction);
    authorizeThen(
        std::move(result), "copy",
        {{"machine", request.machine},
         {"verb", verb},
         {"source", into ? request.hostPath : request.machinePath},
         {"destination", into ? request.machinePath : request.hostPath}},
        [this, verb, parsed = request](const JobReply& reply, const Caller& caller) {
            refreshReadOnlyFlag(parsed.machine);
            CopyRequest request = checked(parsed, checkCopy, machineState_);
            if (!request.running) {
                auto job = jobs_.admit(verb, {request.machine}, "copy", caller.uid);
                auto path = jobRegistry_.start(
                    job, [request](JobContext& context) { copyStoppedMachineFiles(request, context); }, [] {});
                return reply->returnResults(job->id(), sdbus::ObjectPath(path));
            }
            // A running container is not held: its copy is machined's, as a command's is its systemd's.
            auto job = jobs_.admit(verb, {}, "copy", caller.uid, {}, request.machine);
            auto work = [this, request](const Job::Finish& finish) {
                checkMachinedCopy(request);
                const bool into = request.direction == CopyDirection::IntoMachine;
                machines_.machined().copyFiles(
                    request.machine, into, into ? request.hostPath : request.machinePath,
                    into ? request.machinePath : request.hostPath, request.replace,
                    [request, finish](std::optional<std::pair<std::string, std::string>> error) {
                        finish(error ? std::optional<Error>(machinedCopyError(request, error->first, error->second))
                                     : std::nullopt);
                    });
            };
            auto path = jobRegistry_.startOnLoop(job, work, {}, [] {});
            reply->returnResults(job->id(), sdbus::ObjectPath(path));
        });
}

void ManagerObject::CopyTo(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string hostPath,
                           std::string path, std::map<std::string, sdbus::Variant> options)
try {
    auto request = prepared(result, [&] {
        refreshReadOnlyFlag(name);
        return checked(parseCopy(name, CopyDirection::IntoMachine, hostPath, path, toOptionMap(options)), checkCopy,
                       machineState_);
    });
    if (request)
        copyFiles(std::move(result), std::move(*request));
} catch (...) {
    throw toDbusError(currentError("CopyTo"));
}

void ManagerObject::CopyFrom(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string path,
                             std::string hostPath, std::map<std::string, sdbus::Variant> options)
try {
    auto request = prepared(result, [&] {
        refreshReadOnlyFlag(name);
        return checked(parseCopy(name, CopyDirection::OutOfMachine, hostPath, path, toOptionMap(options)), checkCopy,
                       machineState_);
    });
    if (request)
        copyFiles(std::move(result), std::move(*request));
} catch (...) {
    throw toDbusError(currentError("CopyFrom"));
}

void ManagerObject::SetLimits(sdbus::Result<>&& result, std::string name, std::map<std::string, sdbus::Variant> limits)
try {
    auto request = prepared(result, [&] {
        auto parsed = parseSetLimits(name, toOptionMap(limits));
        refreshReadOnlyFlag(name);
        return checked(std::move(parsed), checkSetLimits, machineState_);
    });
    if (!request)
        return;
    Details details{{"machine", name}, {"verb", "limit"}};
    for (const auto& [key, value] : request->given)
        details[key] = std::to_string(value);
    authorizeThen(std::move(result), "configure", details,
                  [this, name, request = *request](const DoneReply& reply, const Caller&) {
                      refreshReadOnlyFlag(name);
                      checkSetLimits(request, machineState_);
                      const MachineView& machine = existingMachine(name);
                      std::string runningUnit = machines_.isRunning(name) ? machine.unit : std::string();
                      std::vector<std::string> given;
                      for (const auto& [key, value] : request.given)
                          given.push_back(fmt::format("{}={}", key, value));
                      spdlog::info("Setting the limits of machine {}: {}", name, fmt::join(given, " "));
                      lifecycle_.setLimits(request, runningUnit, [this, reply, name](std::optional<Error> error) {
                          machines_.refresh(name);
                          if (error)
                              return replyError(*reply, Error(ErrorCode::Failed,
                                                              fmt::format("The limits are kept for the next start of "
                                                                          "'{}', but could not be applied now: {}",
                                                                          name, error->what())));
                          reply->returnResults();
                      });
                  });
} catch (...) {
    throw toDbusError(currentError("SetLimits"));
}

} // namespace bred
