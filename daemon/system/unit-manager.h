// Drives systemd through its own D-Bus API: transient units for containers,
// stops, and the end of systemd's jobs (JobRemoved), as machined does.
#pragma once

#include "errors.h"
#include "nspawn-command.h"
#include "sd-bus-handles.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <systemd/sd-bus.h>
#include <vector>

namespace sdbus {
class IConnection;
class IProxy;
} // namespace sdbus

namespace bred {

class EventLoop;

// Everything our StartTransientUnit calls say: a container's service, or a
// command run once (in a stopped tree through systemd-nspawn, or inside a
// running container through its own systemd).
struct TransientUnit {
    std::string name, description;
    std::string type;                             // Type=
    std::vector<std::string> command;             // ExecStart=, word for word
    std::optional<NspawnConfinement> confinement; // for units that run systemd-nspawn
    // A container's service.
    std::string notifyAccess, restart;
    std::optional<std::int32_t> rebootExitStatus; // RestartForceExitStatus= and SuccessExitStatus=
    // A command: its descriptors (-1: /dev/null), held by systemd once the call is made.
    struct Stdio {
        int in = -1, out = -1, err = -1;
    };
    std::optional<Stdio> stdio;
    std::string user, workingDirectory;
    std::vector<std::string> environment;
};

TransientUnit containerTransientUnit(const std::string& unit, const ContainerService& service);

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
    // Reload: systemd reads unit files and drop-ins again.
    void reload(const Done& done);
    // Calls `changed` on the loop thread whenever systemd announces UnitFilesChanged
    // (an enable or disable, ours or a person's with systemctl).
    void onUnitFilesChanged(std::function<void()> changed) { unitFilesChanged_ = std::move(changed); }

    // The StartTransientUnit call of `unit` on `bus`, a connection of its own (the host's
    // systemd or a container's), for a caller that waits for it there. Throws Error.
    static Message transientUnitCall(sd_bus* bus, const TransientUnit& unit);
    // Appends StartTransientUnit's arguments for `unit` to `call`: the one place they are built.
    static void appendTransientUnit(sd_bus_message* call, const TransientUnit& unit);

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
