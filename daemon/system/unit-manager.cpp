#include "unit-manager.h"

#include "current-error.h"
#include "event-loop.h"
#include "journal-tail.h"
#include "raw-message.h"

#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include "sdbus-compat.h"
#include <spdlog/spdlog.h>

namespace bred {
namespace {

constexpr const char* systemdService = "org.freedesktop.systemd1";
constexpr const char* systemdManager = "org.freedesktop.systemd1.Manager";

void check(int r)
{
    if (r < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot build the call to systemd: {}", std::strerror(-r)));
}

// The properties of a StartTransientUnit call that every unit running
// systemd-nspawn gets (device policy, cgroup, limits), appended to its open
// a(sv) array.
void appendConfinementProperties(sd_bus_message* call, const NspawnConfinement& confinement)
{
    check(sd_bus_message_append(call, "(sv)(sv)(sv)(sv)(sv)(sv)", "KillMode", "s", confinement.killMode.c_str(),
                                "Delegate", "b", int(confinement.delegate), "Slice", "s", confinement.slice.c_str(),
                                "TasksMax", "t", confinement.tasksMax, "LimitNOFILE", "t", confinement.limitNofile,
                                "DevicePolicy", "s", confinement.devicePolicy.c_str()));
    check(sd_bus_message_open_container(call, 'r', "sv"));
    check(sd_bus_message_append(call, "s", "DeviceAllow"));
    check(sd_bus_message_open_container(call, 'v', "a(ss)"));
    check(sd_bus_message_open_container(call, 'a', "(ss)"));
    for (const auto& [device, access] : confinement.deviceAllow)
        check(sd_bus_message_append(call, "(ss)", device.c_str(), access.c_str()));
    for (int level = 0; level < 3; ++level) // the array, the variant, the property
        check(sd_bus_message_close_container(call));
}

// ExecStart= running `command` word for word (systemd's "$" expansion escaped),
// appended to the open a(sv) array.
void appendExecStart(sd_bus_message* call, const std::vector<std::string>& command)
{
    std::vector<std::string> escaped;
    for (const auto& word : command)
        escaped.push_back(literalExecWord(word));
    std::vector<const char*> argv;
    for (const auto& word : escaped)
        argv.push_back(word.c_str());
    argv.push_back(nullptr);
    check(sd_bus_message_open_container(call, 'r', "sv"));
    check(sd_bus_message_append(call, "s", "ExecStart"));
    check(sd_bus_message_open_container(call, 'v', "a(sasb)"));
    check(sd_bus_message_open_container(call, 'a', "(sasb)"));
    check(sd_bus_message_open_container(call, 'r', "sasb"));
    check(sd_bus_message_append(call, "s", command.front().c_str()));
    check(sd_bus_message_append_strv(call, const_cast<char**>(argv.data())));
    check(sd_bus_message_append(call, "b", 0));
    for (int level = 0; level < 4; ++level) // the struct, the array, the variant, the property
        check(sd_bus_message_close_container(call));
}

} // namespace

UnitManager::UnitManager(sdbus::IConnection& bus, EventLoop& loop) :
    loop_(loop),
    manager_(sdbus::createProxy(bus, dbus::ServiceName{systemdService}, sdbus::ObjectPath{"/org/freedesktop/systemd1"}))
{
    BRED_ASSERT_ON_LOOP_THREAD();
    manager_->uponSignal("JobRemoved")
        .onInterface(systemdManager)
        .call([this](std::uint32_t, const sdbus::ObjectPath& job, const std::string& unit, const std::string& result) {
            jobRemoved(job, unit, result);
        });
    manager_->uponSignal("UnitRemoved")
        .onInterface(systemdManager)
        .call([this](const std::string& unit, const sdbus::ObjectPath&) { unitRemoved(unit); });
    manager_->uponSignal("UnitFilesChanged").onInterface(systemdManager).call([this] {
        if (unitFilesChanged_)
            unitFilesChanged_();
    });
    dbus::finishSignalRegistration(*manager_);
    // systemd sends job signals only to subscribers.
    manager_->callMethodAsync("Subscribe").onInterface(systemdManager).uponReplyInvoke([](dbus::CallError error) {
        if (error)
            spdlog::info("systemd is not available ({}); containers cannot be started", error->getMessage());
    });
}

UnitManager::~UnitManager()
{
    for (const auto& [unit, waiter] : removalWaiters_)
        loop_.cancelTimer(waiter.timer);
}

void UnitManager::whenUnitRemoved(const std::string& unit, std::chrono::milliseconds timeout,
                                  std::function<void(bool)> then)
{
    auto timer = std::make_shared<EventLoop::TimerId>();
    *timer = loop_.addTimer(timeout, [this, unit, timer] {
        for (auto it = removalWaiters_.lower_bound(unit); it != removalWaiters_.upper_bound(unit); ++it) {
            if (it->second.timer != *timer)
                continue;
            auto then = std::move(it->second.then);
            removalWaiters_.erase(it);
            then(false);
            return;
        }
    });
    removalWaiters_.emplace(unit, RemovalWaiter{*timer, std::move(then)});
}

void UnitManager::unitRemoved(const std::string& unit)
{
    auto range = removalWaiters_.equal_range(unit);
    std::vector<std::function<void(bool)>> ready;
    for (auto it = range.first; it != range.second; ++it) {
        loop_.cancelTimer(it->second.timer);
        ready.push_back(std::move(it->second.then));
    }
    removalWaiters_.erase(range.first, range.second);
    for (auto& then : ready)
        then(true);
}

void UnitManager::expectJob(const std::string& jobPath, const std::string& unit, Done done)
{
    auto early = finishedEarly_.find(jobPath);
    if (early != finishedEarly_.end()) {
        std::string result = early->second;
        finishedEarly_.erase(early);
        pending_[jobPath] = {unit, std::move(done)};
        jobRemoved(jobPath, unit, result);
        return;
    }
    pending_[jobPath] = {unit, std::move(done)};
}

void UnitManager::jobRemoved(const std::string& jobPath, const std::string& unit, const std::string& result)
{
    auto it = pending_.find(jobPath);
    if (it == pending_.end()) {
        // Possibly ours, before the reply naming it arrived; keep a few.
        if (finishedEarly_.size() > 64)
            finishedEarly_.clear();
        finishedEarly_[jobPath] = result;
        return;
    }
    Done done = std::move(it->second.second);
    pending_.erase(it);
    if (result == "done") {
        done(std::nullopt);
        return;
    }
    std::string tail;
    for (const auto& line : unitJournalTail(unit, 10))
        tail += "\n" + line.message;
    done(Error(ErrorCode::Failed, fmt::format("systemd's job for {} ended with '{}'.{}", unit, result,
                                              tail.empty() ? std::string() : " Its last log lines:" + tail)));
}

TransientUnit containerTransientUnit(const std::string& unit, const ContainerService& service)
{
    TransientUnit transient;
    transient.name = unit;
    transient.description = service.description;
    transient.type = service.type;
    transient.command = service.command;
    transient.confinement = service.confinement;
    transient.notifyAccess = service.notifyAccess;
    transient.restart = service.restart;
    transient.rebootExitStatus = service.rebootExitStatus;
    return transient;
}

void UnitManager::appendTransientUnit(sd_bus_message* call, const TransientUnit& unit)
{
    check(sd_bus_message_append(call, "ss", unit.name.c_str(), "fail"));
    check(sd_bus_message_open_container(call, 'a', "(sv)"));
    check(sd_bus_message_append(call, "(sv)(sv)", "Description", "s", unit.description.c_str(), "Type", "s",
                                unit.type.c_str()));
    if (!unit.notifyAccess.empty())
        check(sd_bus_message_append(call, "(sv)", "NotifyAccess", "s", unit.notifyAccess.c_str()));
    if (!unit.restart.empty())
        check(sd_bus_message_append(call, "(sv)", "Restart", "s", unit.restart.c_str()));
    if (unit.rebootExitStatus)
        for (const char* property : {"RestartForceExitStatus", "SuccessExitStatus"})
            check(sd_bus_message_append(call, "(sv)", property, "(aiai)", 1, *unit.rebootExitStatus, 0));
    // A failed unit goes too, so the next start can create it again.
    check(sd_bus_message_append(call, "(sv)", "CollectMode", "s", "inactive-or-failed"));
    if (unit.stdio) {
        // Ours until the caller has waited for it: not collected before its exit status is read.
        check(sd_bus_message_append(call, "(sv)", "AddRef", "b", 1));
        auto appendStdio = [call](const char* fdProperty, const char* modeProperty, int fd) {
            if (fd >= 0)
                check(sd_bus_message_append(call, "(sv)", fdProperty, "h", fd));
            else
                check(sd_bus_message_append(call, "(sv)", modeProperty, "s", "null"));
        };
        appendStdio("StandardInputFileDescriptor", "StandardInput", unit.stdio->in);
        appendStdio("StandardOutputFileDescriptor", "StandardOutput", unit.stdio->out);
        appendStdio("StandardErrorFileDescriptor", "StandardError", unit.stdio->err);
    }
    if (!unit.user.empty())
        check(sd_bus_message_append(call, "(sv)", "User", "s", unit.user.c_str()));
    if (!unit.workingDirectory.empty())
        check(sd_bus_message_append(call, "(sv)", "WorkingDirectory", "s", unit.workingDirectory.c_str()));
    if (!unit.environment.empty()) {
        check(sd_bus_message_open_container(call, 'r', "sv"));
        check(sd_bus_message_append(call, "s", "Environment"));
        check(sd_bus_message_open_container(call, 'v', "as"));
        std::vector<const char*> strings;
        for (const auto& variable : unit.environment)
            strings.push_back(variable.c_str());
        strings.push_back(nullptr);
        check(sd_bus_message_append_strv(call, const_cast<char**>(strings.data())));
        check(sd_bus_message_close_container(call));
        check(sd_bus_message_close_container(call));
    }
    if (unit.confinement)
        appendConfinementProperties(call, *unit.confinement);
    appendExecStart(call, unit.command);
    check(sd_bus_message_close_container(call));
    check(sd_bus_message_append(call, "a(sa(sv))", 0));
}

Message UnitManager::transientUnitCall(sd_bus* bus, const TransientUnit& unit)
{
    sd_bus_message* raw = nullptr;
    check(sd_bus_message_new_method_call(bus, &raw, systemdService, "/org/freedesktop/systemd1", systemdManager,
                                         "StartTransientUnit"));
    Message call(raw);
    appendTransientUnit(call.get(), unit);
    return call;
}

void UnitManager::startContainer(const std::string& unit, const ContainerService& service, Done done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    startTransient(containerTransientUnit(unit, service), loggingFailures("After a systemd call", std::move(done)),
                   true);
}

void UnitManager::startTransient(const TransientUnit& unit, const Done& done, bool retry)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    auto call = manager_->createMethodCall(dbus::InterfaceName{systemdManager}, dbus::MethodName{"StartTransientUnit"});
    appendTransientUnit(RawMessage::of(call), unit);
    dbus::callAsync(*manager_, call, [this, unit, done, retry](dbus::ReceivedReply reply, dbus::CallError error) {
        bool exists = error && error->getName() == "org.freedesktop.systemd1.UnitExists";
        if (exists && retry) {
            // The unit of a container that just stopped can outlive it for a
            // moment (systemd 257 keeps it while nspawn's mounts go away):
            // once systemd has collected it, try again.
            whenUnitRemoved(unit.name, std::chrono::seconds(10), [this, unit, done](bool removed) {
                if (removed)
                    startTransient(unit, done, false);
                else
                    done(Error(ErrorCode::Busy, fmt::format("systemd still has {} from before and did not let it go "
                                                            "within 10 s; stop it (systemctl stop {}) and try again.",
                                                            unit.name, unit.name)));
            });
            return;
        }
        if (error) {
            done(Error(exists ? ErrorCode::Busy : ErrorCode::Failed,
                       fmt::format("systemd did not start {}: {}", unit.name, error->getMessage())));
            return;
        }
        sdbus::ObjectPath job;
        reply >> job;
        expectJob(job, unit.name, done);
    });
}

void UnitManager::startUnit(const std::string& unit, Done done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    done = loggingFailures("After a systemd call", std::move(done));
    manager_->callMethodAsync("StartUnit")
        .onInterface(systemdManager)
        .withArguments(unit, std::string("fail"))
        .uponReplyInvoke([this, unit, done](dbus::CallError error, const sdbus::ObjectPath& job) {
            if (error) {
                done(Error(ErrorCode::Failed, fmt::format("systemd did not start {}: {}", unit, error->getMessage())));
                return;
            }
            expectJob(job, unit, done);
        });
}

void UnitManager::reload(const Done& done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    manager_->callMethodAsync("Reload").onInterface(systemdManager).uponReplyInvoke([done](dbus::CallError error) {
        if (error)
            done(Error(ErrorCode::Failed, fmt::format("systemd did not reload its units: {}", error->getMessage())));
        else
            done(std::nullopt);
    });
}

void UnitManager::enableUnitFile(const std::string& unit, Done done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    done = loggingFailures("After a systemd call", std::move(done));
    // runtime=false: for every boot; force=true: replace a stale link of ours.
    manager_->callMethodAsync("EnableUnitFiles")
        .onInterface(systemdManager)
        .withArguments(std::vector<std::string>{unit}, false, true)
        .uponReplyInvoke([this, unit, done](dbus::CallError error, bool,
                                            const std::vector<sdbus::Struct<std::string, std::string, std::string>>&) {
            if (error) {
                done(Error(ErrorCode::Failed, fmt::format("systemd did not enable {}: {}", unit, error->getMessage())));
                return;
            }
            reload(done);
        });
}

void UnitManager::disableUnitFiles(const std::vector<std::string>& units, Done done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    done = loggingFailures("After a systemd call", std::move(done));
    manager_->callMethodAsync("DisableUnitFiles")
        .onInterface(systemdManager)
        .withArguments(units, false)
        .uponReplyInvoke([this, units, done](dbus::CallError error,
                                             const std::vector<sdbus::Struct<std::string, std::string, std::string>>&) {
            // A unit systemd does not know has nothing to disable.
            if (error && error->getName() != "org.freedesktop.systemd1.NoSuchUnit") {
                done(Error(ErrorCode::Failed,
                           fmt::format("systemd did not disable {}: {}", fmt::join(units, ", "), error->getMessage())));
                return;
            }
            reload(done);
        });
}

void UnitManager::stopUnit(const std::string& unit, bool force, Done done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    done = loggingFailures("After a systemd call", std::move(done));
    auto replied = [this, unit, done](dbus::CallError error, std::optional<sdbus::ObjectPath> job) {
        if (error) {
            // A unit that is gone already is stopped (machined does the same).
            if (error->getName() == "org.freedesktop.systemd1.NoSuchUnit" ||
                error->getName() == "org.freedesktop.DBus.Error.UnknownObject")
                done(std::nullopt);
            else
                done(Error(ErrorCode::Failed, fmt::format("systemd did not stop {}: {}", unit, error->getMessage())));
            return;
        }
        if (job)
            expectJob(*job, unit, done);
    };
    if (!force) {
        manager_->callMethodAsync("StopUnit")
            .onInterface(systemdManager)
            .withArguments(unit, std::string("replace"))
            .uponReplyInvoke([replied](dbus::CallError error, sdbus::ObjectPath job) { replied(error, job); });
        return;
    }
    manager_->callMethodAsync("KillUnit")
        .onInterface(systemdManager)
        .withArguments(unit, std::string("all"), std::int32_t(9))
        .uponReplyInvoke([this, unit, replied](dbus::CallError error) {
            if (error) {
                replied(error, std::nullopt);
                return;
            }
            // Killed: now let systemd finish stopping it.
            manager_->callMethodAsync("StopUnit")
                .onInterface(systemdManager)
                .withArguments(unit, std::string("replace"))
                .uponReplyInvoke(
                    [replied](dbus::CallError stopError, sdbus::ObjectPath job) { replied(stopError, job); });
        });
}

} // namespace bred
