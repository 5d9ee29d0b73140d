// A machine's systemd-nspawn settings file (/etc/systemd/nspawn/NAME.nspawn),
// read in systemd's own format: the binds and the host side of the network;
// and the machine's resource limits, in a section of ours that nspawn skips.
#pragma once

#include "resource-limits.h"

#include <string>
#include <string_view>
#include <vector>

namespace bred {

struct BindMount {
    std::string source;
    std::string destination;
    bool readOnly = false;
    bool operator==(const BindMount&) const = default;
};

struct NetworkSettings {
    std::string mode = "host"; // host, veth, bridge, or private (no network at all)
    std::string bridge;
    bool operator==(const NetworkSettings&) const = default;
};

struct NspawnSettings {
    std::vector<BindMount> binds;
    NetworkSettings network;
    ResourceLimits limits;
};

// The section of a .nspawn file that holds SetLimits's limits, one "Key=value"
// line each (CPUQuota in percent, the others as numbers): systemd skips
// sections named "X-...", and the settings file moves with its machine.
inline constexpr const char* limitsSection = "X-BredMachined-Limits";

// Parses the text of a .nspawn file. Unknown sections and keys are ignored;
// later assignments override earlier ones as systemd does.
NspawnSettings parseNspawnSettings(std::string_view text);

} // namespace bred

namespace bred {

// Edits a .nspawn file as a person would: the lines we manage change, every
// other line (comments, keys added by hand) stays as it was. A value with a
// control character is refused (Error InvalidArgs), never written.
class NspawnSettingsEditor {
public:
    explicit NspawnSettingsEditor(std::string_view text);

    // Adds or replaces the bind with this destination.
    void setBind(const BindMount& bind);
    // False when no bind has this destination.
    bool removeBind(const std::string& destination);
    // mode host, veth or bridge (with bridge name).
    void setNetwork(const NetworkSettings& network);
    // Replaces the limits section with the limits that are set (none: no section).
    void setLimits(const ResourceLimits& limits);
    // Adds, where the file does not state them already, the settings that make
    // `machinectl start` (systemd-nspawn@.service: -U --network-veth
    // --link-journal=try-guest --settings=override) start the container as
    // bred-machined's own unit does: no user namespace, the network as our
    // command line leaves it, the journal linked as nspawn's default does, and
    // ready when the container's init says so. With --settings=override these
    // win over that unit's switches; our own command line has none of them.
    // A value a person wrote stays: both starts read it alike.
    void addStartSettings();

    std::string text() const;

private:
    struct Line {
        std::string section, key, raw;
    };
    void removeKeys(const std::string& section, const std::vector<std::string>& keys);
    void append(const std::string& section, const std::string& key, const std::string& value);
    bool states(const std::string& section, const std::vector<std::string>& keys) const;

    std::vector<Line> lines_;
};

// "SRC:DST" with colons in paths escaped, as Bind= takes it.
std::string bindSpec(const BindMount& bind);

} // namespace bred
