#include "os-tree.h"

#include "errors.h"
#include "in-root.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>

namespace bred {
namespace {

constexpr std::size_t maxOsReleaseSize = std::size_t{64} * 1024;

bool isSubvolume(int treeFd)
{
    struct statfs fs { };
    struct stat st { };
    return fstatfs(treeFd, &fs) == 0 && fs.f_type == BTRFS_SUPER_MAGIC && fstat(treeFd, &st) == 0 &&
           st.st_ino == BTRFS_FIRST_FREE_OBJECTID;
}

bool isValidOsReleaseKey(std::string_view key)
{
    if (key.empty() || (key.front() >= '0' && key.front() <= '9'))
        return false;
    for (char c : key)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    return true;
}

// Undoes the shell quoting os-release allows: "..." with \" \\ \$ \` escapes, '...', or bare words.
std::string unquoteOsReleaseValue(std::string_view raw)
{
    std::string value;
    char quote = 0;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (quote == 0 && (c == '"' || c == '\'')) {
            quote = c;
        } else if (quote != 0 && c == quote) {
            quote = 0;
        } else if (c == '\\' && quote != '\'' && i + 1 < raw.size()) {
            value += raw[++i];
        } else if (quote == 0 && (c == ' ' || c == '\t')) {
            break;
        } else {
            value += c;
        }
    }
    return value;
}

} // namespace

OsRelease parseOsRelease(std::string_view text)
{
    OsRelease result;
    while (!text.empty()) {
        auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
            line.remove_prefix(1);
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
            line.remove_suffix(1);
        if (line.empty() || line.front() == '#')
            continue;
        auto equals = line.find('=');
        if (equals == std::string_view::npos)
            continue;
        std::string_view key = line.substr(0, equals);
        if (!isValidOsReleaseKey(key))
            continue;
        result[std::string(key)] = unquoteOsReleaseValue(line.substr(equals + 1));
    }
    return result;
}

std::optional<OsRelease> readOsRelease(int treeFd)
{
    for (const char* path : {"etc/os-release", "usr/lib/os-release"})
        if (auto text = readFileInRoot(treeFd, path, maxOsReleaseSize))
            return parseOsRelease(*text);
    return std::nullopt;
}

std::string architectureFromElfHeader(std::string_view header)
{
    if (header.size() < sizeof(Elf32_Ehdr) || header.substr(0, SELFMAG) != std::string_view(ELFMAG, SELFMAG))
        return {};
    const bool is64 = header[EI_CLASS] == ELFCLASS64;
    const bool littleEndian = header[EI_DATA] == ELFDATA2LSB;
    // e_machine sits at the same offset in 32- and 64-bit headers.
    auto byte0 = static_cast<unsigned char>(header[offsetof(Elf32_Ehdr, e_machine)]);
    auto byte1 = static_cast<unsigned char>(header[offsetof(Elf32_Ehdr, e_machine) + 1]);
    unsigned machine = littleEndian ? (byte0 | byte1 << 8) : (byte1 | byte0 << 8);
    switch (machine) {
    case EM_X86_64:
        return "x86-64";
    case EM_386:
        return "x86";
    case EM_AARCH64:
        return littleEndian ? "arm64" : "arm64-be";
    case EM_ARM:
        return littleEndian ? "arm" : "arm-be";
    case EM_RISCV:
        return is64 ? "riscv64" : "riscv32";
    case EM_PPC64:
        return littleEndian ? "ppc64-le" : "ppc64";
    case EM_PPC:
        return "ppc";
    case EM_S390:
        return is64 ? "s390x" : "s390";
    case EM_LOONGARCH:
        return is64 ? "loongarch64" : "";
    case EM_MIPS:
        return is64 ? (littleEndian ? "mips64-le" : "mips64") : (littleEndian ? "mips-le" : "mips");
    default:
        return {};
    }
}

std::string detectTreeArchitecture(int treeFd)
{
    // Binaries every distribution the catalog names has; symlinks resolve inside the tree.
    for (const char* path : {"usr/lib/systemd/systemd", "usr/bin/sh", "bin/sh", "usr/bin/env", "usr/bin/bash",
                             "usr/bin/busybox", "sbin/init"})
        if (auto head = readFileHeadInRoot(treeFd, path, sizeof(Elf64_Ehdr)))
            if (auto arch = architectureFromElfHeader(*head); !arch.empty())
                return arch;
    return {};
}

bool isTreeReadOnly(int treeFd)
{
    if (isSubvolume(treeFd)) {
        std::uint64_t subvolumeFlags = 0;
        if (ioctl(treeFd, BTRFS_IOC_SUBVOL_GETFLAGS, &subvolumeFlags) == 0 && (subvolumeFlags & BTRFS_SUBVOL_RDONLY))
            return true;
    }
    int flags = 0;
    return ioctl(treeFd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL);
}

namespace {

void setImmutable(int treeFd, bool immutable)
{
    int flags = 0;
    if (ioctl(treeFd, FS_IOC_GETFLAGS, &flags) < 0) {
        if (!immutable && (errno == ENOTTY || errno == EOPNOTSUPP))
            return; // a filesystem without attributes has nothing to clear
        throw Error(ErrorCode::NotSupported,
                    fmt::format("cannot read the attributes of the tree: {}", std::strerror(errno)));
    }
    int wanted = immutable ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    if (wanted != flags && ioctl(treeFd, FS_IOC_SETFLAGS, &wanted) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot {} the immutable attribute of the tree: {}",
                                                   immutable ? "set" : "clear", std::strerror(errno)));
}

} // namespace

void makeTreeDirectory(int parentFd, const std::string& name)
{
    struct statfs fs { };
    if (fstatfs(parentFd, &fs) == 0 && fs.f_type == BTRFS_SUPER_MAGIC) {
        btrfs_ioctl_vol_args args{};
        std::strncpy(args.name, name.c_str(), sizeof args.name - 1);
        if (ioctl(parentFd, BTRFS_IOC_SUBVOL_CREATE, &args) == 0)
            return;
    }
    if (mkdirat(parentFd, name.c_str(), 0755) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot create {}: {}", name, std::strerror(errno)));
}

void setTreeReadOnly(int treeFd, bool readOnly)
{
    if (isSubvolume(treeFd)) {
        std::uint64_t flags = 0;
        if (ioctl(treeFd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) == 0) {
            flags = readOnly ? (flags | BTRFS_SUBVOL_RDONLY) : (flags & ~std::uint64_t(BTRFS_SUBVOL_RDONLY));
            if (ioctl(treeFd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags) < 0)
                throw Error(ErrorCode::Failed,
                            fmt::format("cannot change the subvolume's read-only flag: {}", std::strerror(errno)));
        }
        if (readOnly)
            return;
    }
    setImmutable(treeFd, readOnly);
}

namespace {
constexpr const char* verificationAttribute = "trusted.bredos.verification";
} // namespace

void recordTreeVerification(int treeFd, const TreeVerification& verification)
{
    std::string value = verification.key.empty() ? verification.method : verification.method + " " + verification.key;
    if (fsetxattr(treeFd, verificationAttribute, value.data(), value.size(), 0) < 0)
        throw Error(ErrorCode::Failed,
                    fmt::format("cannot record how the tree was verified: {}", std::strerror(errno)));
}

std::optional<TreeVerification> readTreeVerification(int treeFd)
{
    char buffer[128];
    ssize_t size = fgetxattr(treeFd, verificationAttribute, buffer, sizeof buffer);
    if (size <= 0)
        return std::nullopt;
    std::string_view value(buffer, std::size_t(size));
    TreeVerification verification;
    auto space = value.find(' ');
    verification.method = std::string(value.substr(0, space));
    if (space != std::string_view::npos)
        verification.key = std::string(value.substr(space + 1));
    auto isHexDigit = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    bool keyValid = std::all_of(verification.key.begin(), verification.key.end(), isHexDigit) &&
                    (verification.method == "signature") == !verification.key.empty();
    if ((verification.method != "signature" && verification.method != "checksum" && verification.method != "none") ||
        !keyValid)
        return std::nullopt;
    return verification;
}

void forgetTreeVerification(int treeFd)
{
    if (fremovexattr(treeFd, verificationAttribute) < 0 && errno != ENODATA && errno != ENOTSUP)
        throw Error(ErrorCode::Failed,
                    fmt::format("cannot clear the copy's verification record: {}", std::strerror(errno)));
}

std::uint64_t treeCreationTimestamp(int treeFd)
{
    struct statx stx { };
    if (statx(treeFd, "", AT_EMPTY_PATH, STATX_BTIME, &stx) < 0 || !(stx.stx_mask & STATX_BTIME))
        return 0;
    return std::uint64_t(stx.stx_btime.tv_sec) * 1000000 + stx.stx_btime.tv_nsec / 1000;
}

} // namespace bred
