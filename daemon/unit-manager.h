// Drives systemd through its own D-Bus API: transient units for containers,
// stops, and the end of systemd's jobs (JobRemoved), as machined does.
#pragma once

#include "errors.h"

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

class UnitManager {
public:
    // Runs on the loop thread with the job's result: nullopt when it is done.
    using Done = std::function<void(std::optional<Error>)>;

    explicit UnitManager(sdbus::IConnection& bus);
    ~UnitManager();

    // StartTransientUnit of a notify service running `command`, as
    // systemd-nspawn@.service would: ends when the container reports ready.
    void startContainer(const std::string& unit, const std::string& description,
                        const std::vector<std::string>& command, Done done);
    // StopUnit, or with `force` KillUnit with SIGKILL; ends when the unit is gone.
    void stopUnit(const std::string& unit, bool force, Done done);

private:
    void jobRemoved(const std::string& jobPath, const std::string& unit, const std::string& result);
    void expectJob(const std::string& jobPath, const std::string& unit, Done done);

    std::unique_ptr<sdbus::IProxy> manager_;
    std::map<std::string, std::pair<std::string, Done>> pending_;   // job path → unit, done
    std::map<std::string, std::string> finishedEarly_;              // job path → result
};

// The last `lines` journal lines of `unit`, for a person to see why it failed.
std::string unitJournalTail(const std::string& unit, unsigned lines);

} // namespace bred
