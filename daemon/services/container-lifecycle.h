// What Start, Stop, Enable, Disable, Remove and Rename ask of systemd, and in
// which order: a container's unit started (the unit file Enable wrote, or a
// transient unit) or stopped as a job's loop work, its boot unit written,
// enabled, disabled and moved to a new name. Every step runs on the loop
// thread, where UnitManager calls systemd; each ends through its Done.
#pragma once

#include "boot-enablement.h"
#include "job.h"
#include "machine-requests.h"
#include "machine-settings.h"
#include "machine-store.h"
#include "nspawn-command.h"
#include "unit-manager.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace bred {

// How Start starts a container: the unit file Enable wrote when there is one,
// so that it is the same unit as at boot; a transient unit otherwise.
struct ContainerStart {
    std::string unit;
    std::optional<ContainerService> transient; // empty: start the unit's file
};
ContainerStart containerStart(const BootEnablement& boot, const std::string& name,
                              const std::filesystem::path& directory, const ResourceLimits& limits);

// The unit Stop stops: the one machined names for the machine, whoever started
// it (us, machinectl, boot); ours when machined names none.
std::string unitToStop(const std::string& name, const std::string& machinedUnit);

class ContainerLifecycle {
public:
    using Done = UnitManager::Done;

    // `unitDirectory`: where boot units are written (/etc/systemd/system).
    ContainerLifecycle(UnitManager& units, const MachineStore& store, const MachineSettings& settings,
                       std::filesystem::path unitDirectory);

    // Start's loop work for the machine's tree at `directory`; `job` is asked
    // whether it was canceled before the container's unit is started.
    Job::LoopWork start(const std::string& name, const std::filesystem::path& directory,
                        std::shared_ptr<const Job> job) const;
    // Start's cancel: the booting container is killed. It may not heed a halt
    // request yet (it has no init to handle it), and has nothing to save.
    Job::LoopCancel cancelStart(const std::string& name) const;
    // Stop's loop work. It has no cancel: systemd queues its stop job at once,
    // and that cannot be called off.
    Job::LoopWork stop(const std::string& unit, bool force) const;

    // Writes the container's unit file and enables it into machines.target
    // (instead of `machinectl enable`'s unit, if that is enabled). Throws Error.
    void enableAtBoot(const std::string& name, const std::filesystem::path& directory, const Done& done);
    // Disables the container at boot, whichever unit enabled it.
    void disableAtBoot(const std::string& name, const Done& done);
    // Asks systemd to reload when `needed`: a MachineSettings change rewrote
    // machinectl's drop-in for `name`.
    void reloadIfNeeded(const std::string& name, bool needed);
    // Renames the machine's tree and settings; an `enabled` machine's boot
    // unit names it, so it is disabled first and enabled again under the new name.
    void rename(const RenameRequest& request, MachineClass machineClass, bool enabled, const Done& done);
    // Keeps the request's limits for every start (the settings, machinectl's
    // drop-in, the boot unit's file) and applies them at once to `runningUnit`,
    // the unit of the running container (empty when stopped). Throws Error.
    void setLimits(const LimitsRequest& request, const std::string& runningUnit, const Done& done);

private:
    UnitManager& units_;
    const MachineStore& store_;
    const MachineSettings& settings_;
    BootEnablement boot_;
};

} // namespace bred
