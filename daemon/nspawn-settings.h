// A machine's systemd-nspawn settings file (/etc/systemd/nspawn/NAME.nspawn),
// read in systemd's own format: the binds and the host side of the network.
#pragma once

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
};

// Parses the text of a .nspawn file. Unknown sections and keys are ignored;
// later assignments override earlier ones as systemd does.
NspawnSettings parseNspawnSettings(std::string_view text);

} // namespace bred
