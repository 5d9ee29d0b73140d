// The container side of the network: a systemd-networkd file for host0
// inside the tree, and networkd enabled there. Every path resolves inside the
// tree, so a container's symlink never makes us write on the host.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bred {

struct ContainerNetwork {
    bool dhcp = false;
    std::string address; // CIDR
    std::string gateway;
    std::vector<std::string> dns;
    bool operator==(const ContainerNetwork&) const = default;
};

inline constexpr const char* host0NetworkPath = "etc/systemd/network/80-bred-host0.network";

// Throws Error(InvalidArgs) naming what is malformed.
void validateContainerNetwork(const ContainerNetwork& network);
std::string host0NetworkFile(const ContainerNetwork& network);
std::optional<ContainerNetwork> parseHost0NetworkFile(const std::string& text);

// Writes (or, with nullopt, removes) the host0 file in the tree, enabling systemd-networkd.
void writeContainerNetwork(int treeFd, const std::optional<ContainerNetwork>& network);

} // namespace bred
