#include "container-network.h"

#include "errors.h"
#include "in-root.h"
#include "names.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bred {
namespace {

std::pair<std::string, std::string> splitPath(const std::string& path)
{
    auto slash = path.rfind('/');
    return {path.substr(0, slash), path.substr(slash + 1)};
}

} // namespace

void validateContainerNetwork(const ContainerNetwork& network)
{
    if (!network.address.empty() && !isAddressWithPrefix(network.address))
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("Setting 'address' ('{}') must be an IP address with its prefix length, such as "
                                "192.168.1.20/24 or 2001:db8::20/64.",
                                network.address));
    if (!network.gateway.empty() && !isIpAddress(network.gateway))
        throw Error(
            ErrorCode::InvalidArgs,
            fmt::format("Setting 'gateway' ('{}') must be an IP address, such as 192.168.1.1.", network.gateway));
    for (const auto& server : network.dns)
        if (!isIpAddress(server))
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("Setting 'dns' holds '{}', which is not an IP address; give addresses such as "
                                    "192.168.1.1.",
                                    server));
    if (network.dhcp && !network.address.empty())
        throw Error(ErrorCode::InvalidArgs, "Use either 'dhcp' or a static 'address', not both.");
}

std::string host0NetworkFile(const ContainerNetwork& network)
{
    std::string text = "# Written by bred-machined (SetNetwork); changes here are replaced on the next SetNetwork.\n"
                       "[Match]\nVirtualization=container\nName=host0\n\n[Network]\n";
    if (network.dhcp)
        text += "DHCP=yes\n";
    if (!network.address.empty())
        text += "Address=" + network.address + "\n";
    if (!network.gateway.empty())
        text += "Gateway=" + network.gateway + "\n";
    for (const auto& server : network.dns)
        text += "DNS=" + server + "\n";
    return text;
}

std::optional<ContainerNetwork> parseHost0NetworkFile(const std::string& text)
{
    ContainerNetwork network;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        start = end == std::string::npos ? text.size() : end + 1;
        auto equals = line.find('=');
        if (equals == std::string::npos)
            continue;
        std::string key = line.substr(0, equals), value = line.substr(equals + 1);
        if (key == "DHCP")
            network.dhcp = value == "yes" || value == "true" || value == "ipv4" || value == "ipv6";
        else if (key == "Address")
            network.address = value;
        else if (key == "Gateway")
            network.gateway = value;
        else if (key == "DNS")
            network.dns.push_back(value);
    }
    return network;
}

void writeContainerNetwork(int treeFd, const std::optional<ContainerNetwork>& network)
{
    auto [directory, fileName] = splitPath(host0NetworkPath);
    if (!network) {
        if (UniqueFd dir = openInRoot(treeFd, directory, O_RDONLY | O_DIRECTORY))
            unlinkat(dir.get(), fileName.c_str(), 0);
        return;
    }
    makeDirectoriesInRoot(treeFd, directory);
    // The daemon's own file: a symlink in its place is replaced, not followed.
    replaceFileInRoot(treeFd, host0NetworkPath, host0NetworkFile(*network), FinalSymlink::Replace);
    // Enable systemd-networkd as `systemctl enable` would, inside the tree.
    const std::string wants = "etc/systemd/system/multi-user.target.wants";
    makeDirectoriesInRoot(treeFd, wants);
    makeSymlinkInRoot(treeFd, wants + "/systemd-networkd.service", "/lib/systemd/system/systemd-networkd.service");
}

} // namespace bred
