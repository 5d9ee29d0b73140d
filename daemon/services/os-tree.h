// What a directory in the machines directory holds: is it an OS tree, which
// OS, which architecture, is it a read-only template.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace bred {

using OsRelease = std::map<std::string, std::string>;

// os-release(5) syntax: KEY=VALUE lines, shell-style quoting and escapes, comments.
OsRelease parseOsRelease(std::string_view text);

// The tree's os-release (etc/ first, then usr/lib/), resolved inside the tree;
// nullopt when there is none, i.e. the directory is not an OS tree.
std::optional<OsRelease> readOsRelease(int treeFd);

// systemd's architecture name ("x86-64", "arm64", ...) from an ELF header; empty if unknown.
std::string architectureFromElfHeader(std::string_view header);
// The architecture of the tree's own binaries; empty when none is recognised.
std::string detectTreeArchitecture(int treeFd);

// A template is a read-only tree, in machined's own terms: the directory has the
// immutable attribute, or is a read-only btrfs subvolume.
bool isTreeReadOnly(int treeFd);
// Makes the tree read-only or writable: the read-only flag of a btrfs
// subvolume, else the immutable attribute of its top directory.
void setTreeReadOnly(int treeFd, bool readOnly);

// Creates directory `name` in `parentFd` for a machine's tree: a btrfs
// subvolume where the filesystem is btrfs (so clones are snapshots), else a
// plain directory. Throws Error.
void makeTreeDirectory(int parentFd, const std::string& name);

// How a template we downloaded was verified. Kept with the tree, as an extended
// attribute of its top directory in the trusted namespace, which only the
// host's root sets and which moves and goes with the tree. Shown for
// templates only: a container's root could set it on its own /.
struct TreeVerification {
    std::string method; // "signature", "checksum" or "none"
    std::string key;    // the signing key's fingerprint, with "signature"
    bool operator==(const TreeVerification&) const = default;
};
// Throws Error when the filesystem cannot keep it.
void recordTreeVerification(int treeFd, const TreeVerification& verification);
// nullopt when there is none, or what is there is not one we would write.
std::optional<TreeVerification> readTreeVerification(int treeFd);
// For copies (Clone): what was verified is the original, not the copy.
void forgetTreeVerification(int treeFd);

// Birth time of the directory in µs since the epoch; 0 when the filesystem does not record it.
std::uint64_t treeCreationTimestamp(int treeFd);

} // namespace bred
