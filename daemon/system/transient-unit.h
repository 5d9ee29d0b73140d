// What our StartTransientUnit calls carry, built in one place for both buses
// they go to: the host's systemd through UnitManager (sdbus-c++), and a bus of
// a command's own (the host's or a running container's) in container-run.cpp.
// sd-bus is in this header, so it stays out of unit-manager.h and the layers
// above it.
#pragma once

#include "nspawn-command.h"
#include "sd-bus-handles.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bred {

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

// The StartTransientUnit call of `unit` on `bus`, a connection of its own (the host's
// systemd or a container's), for a caller that waits for it there. Throws Error.
Message transientUnitCall(sd_bus* bus, const TransientUnit& unit);
// Appends StartTransientUnit's arguments for `unit` to `call`: the one place they are built.
void appendTransientUnit(sd_bus_message* call, const TransientUnit& unit);

} // namespace bred
