// What the configuration commands change on disk: binds and the network in
// the machine's .nspawn file, the host0 file inside its tree, and the name of
// tree and settings together. Each returns whether systemd must reload
// (machinectl's drop-in changed, see MachineStore::editSettings); the caller
// asks it to.
#pragma once

#include "machine-requests.h"
#include "machine-store.h"

namespace bred {

class MachineSettings {
public:
    explicit MachineSettings(const MachineStore& store) : store_(store) { }

    // Creates the host folder first when the request says so; throws
    // InvalidArgs when it is missing otherwise.
    bool bind(const BindRequest& request) const;
    // Throws InvalidArgs when the machine has no bind there.
    bool unbind(const UnbindRequest& request) const;
    // `directory`: the machine's tree, where host0's file is written.
    bool setNetwork(const NetworkRequest& request, const std::filesystem::path& directory) const;
    // Renames tree and settings; a container's settings then name the new
    // machine (its start settings are stated again).
    bool rename(const RenameRequest& request, MachineClass machineClass) const;
    // Keeps the request's limits in the settings, the others as they were.
    bool setLimits(const LimitsRequest& request) const;

private:
    const MachineStore& store_;
};

} // namespace bred
