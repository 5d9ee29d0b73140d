// Files replaced whole: readers see the old content or the new, never half.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace bred {

// The start of the hidden names of the daemon's temporary files and trees:
// anything under it is ours to clean up.
inline constexpr std::string_view temporaryPrefix = ".#bred-";

// A short random suffix for the hidden names of temporary files and trees.
std::string randomSuffix();

struct FileOwner {
    uid_t uid;
    gid_t gid;
};

// Writes `text` to a new file in directory `dirFd` (unnamed with O_TMPFILE, or
// with a random hidden name and O_EXCL where the filesystem has no O_TMPFILE;
// nothing that exists is opened), with `mode` and, if given, `owner`; syncs
// it, names it and renames it over `name`. `displayPath` names the file in
// errors. Throws Error; the temporary file never stays behind, not even when
// the daemon is killed while writing (but for the two calls between naming
// and renaming, or the whole write where O_TMPFILE is missing).
void replaceFileAt(int dirFd, const std::string& name, const std::string& text, mode_t mode,
                   std::optional<FileOwner> owner, const std::string& displayPath);

// What installFileAt does where the target name exists.
enum class ExistingTarget {
    Replace, // renamed over, whatever it is (a directory excepted)
    Keep,    // left alone: AlreadyExists
};

// The writer replaceFileAt uses, for content that is not a string: `fill` gets
// the new file's descriptor (in directory `dirFd`, as replaceFileAt makes it)
// and gives it its content, mode and owner; the file is then synced, named and
// renamed to `name`, over an entry there only with ExistingTarget::Replace.
// Throws Error (AlreadyExists for a kept target); the temporary file never
// stays behind.
void installFileAt(int dirFd, const std::string& name, const std::function<void(int fd)>& fill, ExistingTarget existing,
                   const std::string& displayPath);

// replaceFileAt for a host path. Creates the parent directory if missing. Throws Error.
void writeFileAtomically(const std::filesystem::path& path, const std::string& text, mode_t mode = 0644);

} // namespace bred
