// Trees a job builds or takes apart out of sight, under a hidden name in the
// directory of their final one, as importd does with its ".#" names: a cancel,
// a failure or a crash leaves nothing under a machine's name, and what a
// killed daemon left behind is swept at its next start.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bred {

// Creates `name` in `parentFd` as an empty directory only its owner may enter. Throws Error.
void makePrivateDirectory(int parentFd, const std::string& name);

class TemporaryTree {
public:
    // Makes the tree at `name` in `parentFd` (a directory, a btrfs subvolume or snapshot). Throws Error.
    using Make = std::function<void(int parentFd, const std::string& name)>;

    // A new tree ".#bred-PURPOSE-XXXXXXXX" in `parentFd`, made by `make`. Throws Error.
    TemporaryTree(int parentFd, const std::string& purpose, const Make& make = makePrivateDirectory);
    // Moves the tree `name` in `parentFd` aside to ".#bred-PURPOSE-XXXXXXXX" (never
    // replacing anything), from where it goes as any temporary tree. nullopt, with
    // errno set, when it could not be moved.
    static std::optional<TemporaryTree> moveAside(int parentFd, const std::string& name, const std::string& purpose);

    // Removes the tree unless it was renamed into place or removed already; what
    // cannot be removed now is left for sweep().
    ~TemporaryTree();
    TemporaryTree(TemporaryTree&& other) noexcept;
    TemporaryTree(const TemporaryTree&) = delete;
    TemporaryTree& operator=(const TemporaryTree&) = delete;
    TemporaryTree& operator=(TemporaryTree&&) = delete;

    // The hidden name in the parent directory.
    const std::string& name() const { return name_; }

    // Renames the tree to `target` in the same directory, never over an entry
    // there (RENAME_NOREPLACE); it is then no longer temporary. False, with errno
    // set (EEXIST: `target` exists), when it stays temporary.
    bool renameInto(const std::string& target);

    // Swaps the tree with the existing entry `target` in the same directory
    // (RENAME_EXCHANGE): the tree is then in place, and this object holds what
    // was there under the hidden name, to remove as any temporary tree (a
    // non-directory is unlinked at once). False, with errno set (ENOENT:
    // nothing is at `target`), when nothing was swapped.
    bool exchangeWith(const std::string& target);

    // Removes the tree now, as removeTree() does: `onEntryRemoved` runs after
    // each entry and may throw to stop. Throws Error; what a failure leaves is
    // left for sweep().
    void remove(const std::function<void()>& onEntryRemoved);

    // The PURPOSE of a name ".#bred-PURPOSE-XXXXXXXX" that a temporary tree
    // has; nullopt for any other name.
    static std::optional<std::string> purposeOf(std::string_view name);

    // For the start of the daemon: removes every entry of `parentFd` whose name
    // begins with the hidden prefix, a tree as removeTree() does, anything else
    // (a file, a symlink) unlinked; a symlink is never followed. Says what it did,
    // "removed PATH" or "could not remove PATH: WHY" for each, PATH in `displayDirectory`.
    static std::vector<std::string> sweep(int parentFd, const std::filesystem::path& displayDirectory);

private:
    struct Existing { };
    // Takes over the hidden tree `name` that is already there.
    TemporaryTree(int parentFd, std::string name, Existing);

    int parentFd_;
    std::string name_;
    bool owned_ = true; // false once renamed into place, removed, or moved from
};

} // namespace bred
