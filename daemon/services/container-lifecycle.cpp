#include "container-lifecycle.h"

#include <spdlog/spdlog.h>

namespace bred {

ContainerStart containerStart(const BootEnablement& boot, const std::string& name,
                              const std::filesystem::path& directory, const ResourceLimits& limits)
{
    if (boot.hasUnitFile(name))
        return {containerUnitName(name), std::nullopt};
    return {containerUnitName(name), containerService(name, directory, limits)};
}

std::string unitToStop(const std::string& name, const std::string& machinedUnit)
{
    return machinedUnit.empty() ? containerUnitName(name) : machinedUnit;
}

ContainerLifecycle::ContainerLifecycle(UnitManager& units, const MachineStore& store, const MachineSettings& settings,
                                       std::filesystem::path unitDirectory) :
    units_(units),
    store_(store),
    settings_(settings),
    boot_(std::move(unitDirectory))
{
}

Job::LoopWork ContainerLifecycle::start(const std::string& name, const std::filesystem::path& directory,
                                        std::shared_ptr<const Job> job) const
{
    return [this, name, directory, job = std::move(job)](const Job::Finish& finish) {
        // A killed nspawn's export mount would make the new one refuse to start: let
        // systemd unmount it first (a unit it does not know is stopped already).
        units_.stopUnit(unixExportMountUnitName(name), false,
                        [this, name, directory, job, finish](const std::optional<Error>&) {
                            if (job->cancelRequested()) {
                                finish(std::nullopt);
                                return;
                            }
                            ContainerStart how = containerStart(boot_, name, directory, store_.limits(name));
                            if (how.transient)
                                units_.startContainer(how.unit, *how.transient, finish);
                            else
                                units_.startUnit(how.unit, finish);
                        });
    };
}

Job::LoopCancel ContainerLifecycle::cancelStart(const std::string& name) const
{
    return
        [this, unit = containerUnitName(name)](Job::Finish undone) { units_.stopUnit(unit, true, std::move(undone)); };
}

Job::LoopWork ContainerLifecycle::stop(const std::string& unit, bool force) const
{
    return [this, unit, force](Job::Finish finish) { units_.stopUnit(unit, force, std::move(finish)); };
}

void ContainerLifecycle::enableAtBoot(const std::string& name, const std::filesystem::path& directory, const Done& done)
{
    boot_.writeUnitFile(name, directory, store_.limits(name));
    units_.enableUnitFile(containerUnitName(name), [this, name, done](const std::optional<Error>& error) {
        if (error || !boot_.isEnabledByMachinectl(name))
            return done(error);
        // Two units starting one machine at boot: ours replaces `machinectl enable`'s.
        units_.disableUnitFiles({machinectlUnitName(name)}, done);
    });
}

void ContainerLifecycle::disableAtBoot(const std::string& name, const Done& done)
{
    std::vector<std::string> enabledUnits = boot_.unitsToDisable(name);
    if (enabledUnits.empty())
        return done(std::nullopt);
    units_.disableUnitFiles(enabledUnits, [this, name, done](const std::optional<Error>& failure) {
        if (!failure)
            boot_.removeUnitFile(name);
        done(failure);
    });
}

void ContainerLifecycle::reloadIfNeeded(const std::string& name, bool needed)
{
    if (needed)
        units_.reload([name](std::optional<Error> error) {
            if (error)
                spdlog::warn("machinectl's unit for '{}' keeps its old settings until systemd reloads: {}", name,
                             error->what());
        });
}

void ContainerLifecycle::rename(const RenameRequest& request, MachineClass machineClass, bool enabled, const Done& done)
{
    if (!enabled) {
        try {
            reloadIfNeeded(request.newName, settings_.rename(request, machineClass));
        } catch (const Error& failure) {
            return done(failure);
        }
        spdlog::info("Renamed machine {} to {}", request.name, request.newName);
        return done(std::nullopt);
    }
    // The boot-time unit names the machine: move it to the new name.
    disableAtBoot(request.name, [this, request, machineClass, done](const std::optional<Error>& error) {
        if (error)
            return done(error);
        try {
            reloadIfNeeded(request.newName, settings_.rename(request, machineClass));
            spdlog::info("Renamed machine {} to {}", request.name, request.newName);
            enableAtBoot(request.newName, store_.directory() / request.newName, done);
        } catch (const Error& failure) {
            done(failure);
        }
    });
}

void ContainerLifecycle::setLimits(const LimitsRequest& request, const std::string& runningUnit, const Done& done)
{
    bool reloadNeeded = settings_.setLimits(request);
    ResourceLimits limits = store_.limits(request.name);
    if (boot_.hasUnitFile(request.name)) {
        boot_.writeUnitFile(request.name, store_.directory() / request.name, limits);
        reloadNeeded = true;
    }
    reloadIfNeeded(request.name, reloadNeeded);
    if (runningUnit.empty())
        return done(std::nullopt);
    // Every limit, the unset ones as systemd's defaults: what was cleared goes now too.
    units_.setUnitProperties(runningUnit, resourceLimitProperties(limits, NspawnConfinement{}.tasksMax), done);
}

} // namespace bred
