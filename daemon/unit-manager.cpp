#include "unit-manager.h"

#include <fmt/format.h>
#include <sdbus-c++/sdbus-c++.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-journal.h>

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
    done(Error(ErrorCode::Failed, fmt::format("systemd's job for {} ended with '{}'.{}", unit, result,
                                              [&] {
                                                  auto tail = unitJournalTail(unit, 10);
                                                  return tail.empty() ? std::string() : " Its last log lines:\n" + tail;
                                              }())));
}

void UnitManager::startContainer(const std::string& unit, const std::string& description,
                                 const std::vector<std::string>& command, Done done)
{
    // As systemd-nspawn@.service: exit 133 means "reboot" (start again), a
    // poweroff inside exits 0 and stays off, a failure restarts.
    using ExitStatuses = sdbus::Struct<std::vector<std::int32_t>, std::vector<std::int32_t>>;
    using DeviceAllow = std::vector<sdbus::Struct<std::string, std::string>>;
    std::vector<Property> properties{
        {"Description", sdbus::Variant(description)},
        {"ExecStart", sdbus::Variant(std::vector<ExecCommand>{{command.front(), command, false}})},
        {"Type", sdbus::Variant(std::string("notify"))},
        {"NotifyAccess", sdbus::Variant(std::string("all"))},
        {"KillMode", sdbus::Variant(std::string("mixed"))},
        {"Delegate", sdbus::Variant(true)},
        {"Slice", sdbus::Variant(std::string("machine.slice"))},
        {"Restart", sdbus::Variant(std::string("on-failure"))},
        {"RestartForceExitStatus", sdbus::Variant(ExitStatuses{{133}, {}})},
        {"SuccessExitStatus", sdbus::Variant(ExitStatuses{{133}, {}})},
        {"TasksMax", sdbus::Variant(std::uint64_t(16384))},
        {"LimitNOFILE", sdbus::Variant(std::uint64_t(524288))},
        // A failed container's unit goes too, so the next Start can create it again.
        {"CollectMode", sdbus::Variant(std::string("inactive-or-failed"))},
        {"DevicePolicy", sdbus::Variant(std::string("closed"))},
        {"DeviceAllow", sdbus::Variant(DeviceAllow{{"/dev/net/tun", "rwm"},
                                                   {"char-pts", "rw"},
                                                   {"/dev/loop-control", "rw"},
                                                   {"block-loop", "rw"},
                                                   {"block-blkext", "rw"},
                                                   {"/dev/mapper/control", "rw"}})},
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

void UnitManager::stopUnit(const std::string& unit, bool force, Done done)
{
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

std::string unitJournalTail(const std::string& unit, unsigned lines)
{
    sd_journal* journal = nullptr;
    if (sd_journal_open(&journal, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM) < 0)
        return {};
    std::unique_ptr<sd_journal, decltype(&sd_journal_close)> holder(journal, sd_journal_close);
    std::string match = "_SYSTEMD_UNIT=" + unit;
    sd_journal_add_match(journal, match.data(), match.size());
    sd_journal_add_disjunction(journal);
    std::string unitMatch = "UNIT=" + unit;
    sd_journal_add_match(journal, unitMatch.data(), unitMatch.size());
    sd_journal_seek_tail(journal);
    std::vector<std::string> collected;
    while (collected.size() < lines && sd_journal_previous(journal) > 0) {
        const void* data = nullptr;
        std::size_t length = 0;
        if (sd_journal_get_data(journal, "MESSAGE", &data, &length) >= 0)
            collected.emplace_back(static_cast<const char*>(data) + 8, length - 8);
    }
    std::string text;
    for (auto it = collected.rbegin(); it != collected.rend(); ++it)
        text += *it + "\n";
    return text;
}

} // namespace bred
