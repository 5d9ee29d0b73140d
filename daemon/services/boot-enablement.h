// Whether a container starts at boot, decided in one place: our unit
// (bred-machine-NAME.service, written by Enable) linked into machines.target,
// or `machinectl enable`'s systemd-nspawn@NAME.service, which the Enabled
// property reports too and Enable replaces with ours.
#pragma once

#include "resource-limits.h"

#include <filesystem>
#include <string>
#include <vector>

namespace bred {

class BootEnablement {
public:
    // `unitDirectory`: where units are written and enabled (/etc/systemd/system).
    explicit BootEnablement(std::filesystem::path unitDirectory) : unitDirectory_(std::move(unitDirectory)) { }

    // The Enabled property: machines.target pulls in ours or machinectl's.
    bool isEnabled(const std::string& name) const;
    // `machinectl enable` linked its unit: after enabling ours, that one is disabled.
    bool isEnabledByMachinectl(const std::string& name) const;
    // Our unit's file, written by Enable for the machine's tree.
    std::filesystem::path unitFile(const std::string& name) const;
    bool hasUnitFile(const std::string& name) const;
    void writeUnitFile(const std::string& name, const std::filesystem::path& directory,
                       const ResourceLimits& limits) const;
    void removeUnitFile(const std::string& name) const;
    // What DisableUnitFiles is given so that nothing starts the machine at
    // boot: ours when its file exists, machinectl's when linked; empty when
    // neither.
    std::vector<std::string> unitsToDisable(const std::string& name) const;

private:
    std::filesystem::path wanted(const std::string& unit) const;

    std::filesystem::path unitDirectory_;
};

} // namespace bred
