// Drives systemd through its own D-Bus API: transient units for containers,
// stops, and the end of systemd's jobs (JobRemoved), as machined does. Free of
// sdbus-c++ and sd-bus (services/ drives it): StartTransientUnit's arguments are
// built in transient-unit.h.
#pragma once

#include "errors.h"
#include "nspawn-command.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sdbus {
class IConnection;
class IProxy;
} // namespace sdbus

namespace bred {

class EventLoop;

struct TransientUnit;

class UnitManager {
public:
    // Runs on the loop thread with the job's result: nullopt when it is done.
    using Done = std::function<void(std::optional<Error>)>;

    UnitManager(sdbus::IConnection& bus, EventLoop& loop);
    ~UnitManager();

    // StartTransientUnit of the container's service: ends when the container
    // reports ready.
    void startContainer(const std::string& unit, const ContainerService& service, Done done);
    // StartUnit of a unit with a file (an enabled container); ends when it is ready.
    void startUnit(const std::string& unit, Done done);
    // EnableUnitFiles / DisableUnitFiles of `unit`, then Reload, as
    // `systemctl enable` does; ends when systemd has reloaded.
    void enableUnitFile(const std::string& unit, Done done);
    void disableUnitFiles(const std::vector<std::string>& units, Done done);
    // StopUnit, or with `force` KillUnit with SIGKILL; ends when the unit is gone.
    void stopUnit(const std::string& unit, bool force, Done done);
    // SetUnitProperties of `unit` for this boot (runtime), each property a 't';
    // ends with systemd's reply.
    void setUnitProperties(const std::string& unit,
                           const std::vector<std::pair<std::string, std::uint64_t>>& properties, Done done);
    // Reload: systemd reads unit files and drop-ins again.
    void reload(const Done& done);
    // Calls `changed` on the loop thread whenever systemd announces UnitFilesChanged
    // (an enable or disable, ours or a person's with systemctl).
    void onUnitFilesChanged(std::function<void()> changed) { unitFilesChanged_ = std::move(changed); }

private:
    void startTransient(const TransientUnit& unit, const Done& done, bool retry);
    // Calls `then(true)` when systemd collects `unit` (UnitRemoved), or
    // `then(false)` after `timeout`.
    void whenUnitRemoved(const std::string& unit, std::chrono::milliseconds timeout, std::function<void(bool)> then);
    void unitRemoved(const std::string& unit);
    void jobRemoved(const std::string& jobPath, const std::string& unit, const std::string& result);
    void expectJob(const std::string& jobPath, const std::string& unit, Done done);

    EventLoop& loop_;
    std::unique_ptr<sdbus::IProxy> manager_;
    struct RemovalWaiter {
        std::uint64_t timer;
        std::function<void(bool)> then;
    };
    std::multimap<std::string, RemovalWaiter> removalWaiters_;    // unit → waiter
    std::map<std::string, std::pair<std::string, Done>> pending_; // job path → unit, done
    std::map<std::string, std::string> finishedEarly_;            // job path → result
    std::function<void()> unitFilesChanged_;
};

} // namespace bred
