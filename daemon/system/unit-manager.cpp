#include "unit-manager.h"

#include "current-error.h"
#include "event-loop.h"
#include "journal-tail.h"
#include "raw-message.h"
#include "transient-unit.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include "sdbus-compat.h"
#include <spdlog/spdlog.h>

namespace bred {
namespace {

constexpr const char* systemdService = "org.freedesktop.systemd1";
constexpr const char* systemdManager = "org.freedesktop.systemd1.Manager";

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

void UnitManager::setUnitProperties(const std::string& unit,
                                    const std::vector<std::pair<std::string, std::uint64_t>>& properties, Done done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    done = loggingFailures("After a systemd call", std::move(done));
    std::vector<sdbus::Struct<std::string, sdbus::Variant>> values;
    for (const auto& [property, value] : properties)
        values.emplace_back(property, sdbus::Variant{value});
    manager_->callMethodAsync("SetUnitProperties")
        .onInterface(systemdManager)
        .withArguments(unit, true, values)
        .uponReplyInvoke([unit, done](dbus::CallError error) {
            if (error)
                done(Error(ErrorCode::Failed,
                           fmt::format("systemd did not change the properties of {}: {}", unit, error->getMessage())));
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
