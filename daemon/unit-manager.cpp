#include "unit-manager.h"

#include "current-error.h"
#include "journal-tail.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sdbus-c++/sdbus-c++.h>
#include <spdlog/spdlog.h>

namespace bred {
namespace {

constexpr const char* systemdService = "org.freedesktop.systemd1";
constexpr const char* systemdManager = "org.freedesktop.systemd1.Manager";

using Property = sdbus::Struct<std::string, sdbus::Variant>;
using ExecCommand = sdbus::Struct<std::string, std::vector<std::string>, bool>;

} // namespace

UnitManager::UnitManager(sdbus::IConnection& bus)
    : manager_(sdbus::createProxy(bus, systemdService, "/org/freedesktop/systemd1"))
{
    manager_->uponSignal("JobRemoved")
        .onInterface(systemdManager)
        .call([this](std::uint32_t, const sdbus::ObjectPath& job, const std::string& unit, const std::string& result) {
            jobRemoved(job, unit, result);
        });
    manager_->finishRegistration();
    // systemd sends job signals only to subscribers.
    manager_->callMethodAsync("Subscribe").onInterface(systemdManager).uponReplyInvoke([](const sdbus::Error* error) {
        if (error)
            spdlog::info("systemd is not available ({}); containers cannot be started", error->getMessage());
    });
}

UnitManager::~UnitManager() = default;

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

void UnitManager::startContainer(const std::string& unit, const ContainerService& service, Done done)
{
    done = loggingFailures("After a systemd call", std::move(done));
    using ExitStatuses = sdbus::Struct<std::vector<std::int32_t>, std::vector<std::int32_t>>;
    using DeviceAllow = std::vector<sdbus::Struct<std::string, std::string>>;
    DeviceAllow devices;
    for (const auto& [device, access] : service.deviceAllow)
        devices.emplace_back(device, access);
    std::vector<std::string> argv;
    for (const auto& word : service.command)
        argv.push_back(literalExecWord(word));
    std::vector<Property> properties{
        {"Description", sdbus::Variant(service.description)},
        {"ExecStart", sdbus::Variant(std::vector<ExecCommand>{{service.command.front(), argv, false}})},
        {"Type", sdbus::Variant(service.type)},
        {"NotifyAccess", sdbus::Variant(service.notifyAccess)},
        {"KillMode", sdbus::Variant(service.killMode)},
        {"Delegate", sdbus::Variant(service.delegate)},
        {"Slice", sdbus::Variant(service.slice)},
        {"Restart", sdbus::Variant(service.restart)},
        {"RestartForceExitStatus", sdbus::Variant(ExitStatuses{{service.rebootExitStatus}, {}})},
        {"SuccessExitStatus", sdbus::Variant(ExitStatuses{{service.rebootExitStatus}, {}})},
        {"TasksMax", sdbus::Variant(service.tasksMax)},
        {"LimitNOFILE", sdbus::Variant(service.limitNofile)},
        // A failed container's unit goes too, so the next Start can create it again.
        {"CollectMode", sdbus::Variant(std::string("inactive-or-failed"))},
        {"DevicePolicy", sdbus::Variant(service.devicePolicy)},
        {"DeviceAllow", sdbus::Variant(devices)},
    };
    std::vector<sdbus::Struct<std::string, std::vector<Property>>> auxiliary;
    manager_->callMethodAsync("StartTransientUnit")
        .onInterface(systemdManager)
        .withArguments(unit, std::string("fail"), properties, auxiliary)
        .uponReplyInvoke([this, unit, done](const sdbus::Error* error, sdbus::ObjectPath job) {
            if (error) {
                done(Error(error->getName() == "org.freedesktop.systemd1.UnitExists" ? ErrorCode::Busy
                                                                                       : ErrorCode::Failed,
                           fmt::format("systemd did not start {}: {}", unit, error->getMessage())));
                return;
            }
            expectJob(job, unit, done);
        });
}

void UnitManager::startUnit(const std::string& unit, Done done)
{
    done = loggingFailures("After a systemd call", std::move(done));
    manager_->callMethodAsync("StartUnit")
        .onInterface(systemdManager)
        .withArguments(unit, std::string("fail"))
        .uponReplyInvoke([this, unit, done](const sdbus::Error* error, sdbus::ObjectPath job) {
            if (error) {
                done(Error(ErrorCode::Failed, fmt::format("systemd did not start {}: {}", unit, error->getMessage())));
                return;
            }
            expectJob(job, unit, done);
        });
}

void UnitManager::reload(Done done)
{
    manager_->callMethodAsync("Reload").onInterface(systemdManager).uponReplyInvoke([done](const sdbus::Error* error) {
        if (error)
            done(Error(ErrorCode::Failed, fmt::format("systemd did not reload its units: {}", error->getMessage())));
        else
            done(std::nullopt);
    });
}

void UnitManager::enableUnitFile(const std::string& unit, Done done)
{
    done = loggingFailures("After a systemd call", std::move(done));
    // runtime=false: for every boot; force=true: replace a stale link of ours.
    manager_->callMethodAsync("EnableUnitFiles")
        .onInterface(systemdManager)
        .withArguments(std::vector<std::string>{unit}, false, true)
        .uponReplyInvoke([this, unit, done](const sdbus::Error* error, bool,
                                            const std::vector<sdbus::Struct<std::string, std::string, std::string>>&) {
            if (error) {
                done(Error(ErrorCode::Failed,
                           fmt::format("systemd did not enable {}: {}", unit, error->getMessage())));
                return;
            }
            reload(done);
        });
}

void UnitManager::disableUnitFiles(const std::vector<std::string>& units, Done done)
{
    done = loggingFailures("After a systemd call", std::move(done));
    manager_->callMethodAsync("DisableUnitFiles")
        .onInterface(systemdManager)
        .withArguments(units, false)
        .uponReplyInvoke([this, units, done](const sdbus::Error* error,
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
    done = loggingFailures("After a systemd call", std::move(done));
    auto replied = [this, unit, done](const sdbus::Error* error, std::optional<sdbus::ObjectPath> job) {
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
            .uponReplyInvoke([replied](const sdbus::Error* error, sdbus::ObjectPath job) { replied(error, job); });
        return;
    }
    manager_->callMethodAsync("KillUnit")
        .onInterface(systemdManager)
        .withArguments(unit, std::string("all"), std::int32_t(9))
        .uponReplyInvoke([this, unit, replied](const sdbus::Error* error) {
            if (error) {
                replied(error, std::nullopt);
                return;
            }
            // Killed: now let systemd finish stopping it.
            manager_->callMethodAsync("StopUnit")
                .onInterface(systemdManager)
                .withArguments(unit, std::string("replace"))
                .uponReplyInvoke([replied](const sdbus::Error* stopError, sdbus::ObjectPath job) {
                    replied(stopError, job);
                });
        });
}

} // namespace bred
