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

// Creates each missing directory of `path` inside the tree; a symlink on the
// way whose target is missing gets its target created, inside the tree too.
void makeDirectoriesInRoot(int treeFd, const std::string& path, int depth = 0)
{
    if (depth > 8)
        throw Error(ErrorCode::Failed, fmt::format("too many symlinks on the way to /{} in the container", path));
    std::string prefix;
    std::size_t start = 0;
    while (start < path.size()) {
        auto slash = path.find('/', start);
        std::string component = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        std::string next = prefix.empty() ? component : prefix + "/" + component;
        if (!openInRoot(treeFd, next, O_PATH | O_DIRECTORY)) {
            UniqueFd parent = openInRoot(treeFd, prefix.empty() ? "." : prefix, O_RDONLY | O_DIRECTORY);
            if (!parent)
                throw Error(ErrorCode::Failed, fmt::format("cannot open /{} in the container", prefix));
            char target[4096];
            ssize_t length = readlinkat(parent.get(), component.c_str(), target, sizeof target - 1);
            if (length > 0) {
                // A dangling symlink: make what it points to, resolved as the container would.
                std::string link(target, std::size_t(length));
                makeDirectoriesInRoot(treeFd, link.front() == '/' ? link.substr(1) : prefix + "/" + link, depth + 1);
            } else if (mkdirat(parent.get(), component.c_str(), 0755) < 0 && errno != EEXIST) {
                throw Error(ErrorCode::Failed, fmt::format("cannot create /{} in the container: {}", next,
                                                           std::strerror(errno)));
            }
        }
        prefix = next;
        if (slash == std::string::npos)
            break;
        start = slash + 1;
    }
}

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
        throw Error(ErrorCode::InvalidArgs,
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
    UniqueFd dir = openInRoot(treeFd, directory, O_RDONLY | O_DIRECTORY);
    std::string text = host0NetworkFile(*network);
    std::string temporary = fileName + ".#bred";
    UniqueFd file(openat(dir.get(), temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!file || write(file.get(), text.data(), text.size()) != ssize_t(text.size()) ||
        renameat(dir.get(), temporary.c_str(), dir.get(), fileName.c_str()) < 0)
        throw Error(ErrorCode::Failed,
                    fmt::format("cannot write /{} in the container: {}", host0NetworkPath, std::strerror(errno)));
    // Enable systemd-networkd as `systemctl enable` would, inside the tree.
    const std::string wants = "etc/systemd/system/multi-user.target.wants";
    makeDirectoriesInRoot(treeFd, wants);
    UniqueFd wantsDir = openInRoot(treeFd, wants, O_RDONLY | O_DIRECTORY);
    if (symlinkat("/lib/systemd/system/systemd-networkd.service", wantsDir.get(), "systemd-networkd.service") < 0 &&
        errno != EEXIST)
        throw Error(ErrorCode::Failed,
                    fmt::format("cannot enable systemd-networkd in the container: {}", std::strerror(errno)));
}

} // namespace bred
