// Where the archive and image targets unpack their input, so that what an
// archive does can be seen and cannot harm the host running the fuzzer:
//   - a tmpfs mounted nodev, detached from every directory tree (it has no
//     path; the targets reach it through /proc/self/fd): a device node an
//     archive makes there cannot be opened, and ".." at its top stays there;
//   - in it a sentinel file beside the scratch tree, checked after each input:
//     an entry written outside the scratch tree aborts the run;
//   - for the rest of the process, every other mount read-only except the
//     working directory (where libFuzzer writes the corpus and crash files).
#pragma once

#include "tree-removal.h"
#include "unique-fd.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <string>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

namespace bred::fuzz {

class ScratchArena {
public:
    ScratchArena()
    {
        static const bool entered = (enterPrivateMounts(), true);
        (void)entered;
        UniqueFd context(fsopen("tmpfs", FSOPEN_CLOEXEC));
        if (!context || fsconfig(context.get(), FSCONFIG_SET_STRING, "size", "512m", 0) < 0 ||
            fsconfig(context.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
            die("cannot create a tmpfs");
        arena_ =
            UniqueFd(fsmount(context.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC));
        if (!arena_)
            die("cannot mount the tmpfs");
        UniqueFd sentinel(openat(arena_.get(), sentinelName, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        if (!sentinel || write(sentinel.get(), sentinelText, std::strlen(sentinelText)) < 0 ||
            fstat(sentinel.get(), &sentinelStat_) < 0)
            die("cannot write the sentinel");
        workingDirectory_ = UniqueFd(open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!workingDirectory_)
            die("cannot open the working directory");
    }

    // An empty scratch tree in the arena, by path (the extractor takes one).
    std::string freshTree()
    {
        if (mkdirat(arena_.get(), scratchName, 0755) < 0)
            die("cannot create the scratch tree");
        return "/proc/self/fd/" + std::to_string(arena_.get()) + "/" + scratchName;
    }

    // Removes the scratch tree and aborts when anything beside it changed.
    // The extractor enters the tree as its working directory: go back first.
    void finish()
    {
        if (fchdir(workingDirectory_.get()) < 0)
            die("cannot return to the working directory");
        struct stat st { };
        if (fstatat(arena_.get(), scratchName, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            removeTree(arena_.get(), scratchName, [] {});
        std::set<std::string> names = entries();
        if (names != std::set<std::string>{sentinelName})
            escaped("the arena holds other entries than the sentinel and the scratch tree");
        UniqueFd sentinel(openat(arena_.get(), sentinelName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        char text[64] = {};
        if (!sentinel || fstat(sentinel.get(), &st) < 0 || read(sentinel.get(), text, sizeof text - 1) < 0)
            escaped("the sentinel is gone or no longer a file");
        if (std::strcmp(text, sentinelText) != 0 || st.st_ino != sentinelStat_.st_ino ||
            st.st_mode != sentinelStat_.st_mode || st.st_uid != sentinelStat_.st_uid ||
            st.st_mtim.tv_sec != sentinelStat_.st_mtim.tv_sec || st.st_mtim.tv_nsec != sentinelStat_.st_mtim.tv_nsec)
            escaped("the sentinel changed");
    }

private:
    static constexpr const char* sentinelName = "sentinel";
    static constexpr const char* sentinelText = "outside the scratch tree\n";
    static constexpr const char* scratchName = "scratch";

    [[noreturn]] static void die(const char* what)
    {
        std::fprintf(stderr, "scratch arena: %s: %s\n", what, std::strerror(errno));
        std::exit(2);
    }
    [[noreturn]] static void escaped(const char* what)
    {
        std::fprintf(stderr, "==WRITE OUTSIDE THE SCRATCH TREE== %s\n", what);
        std::abort(); // libFuzzer saves the input as a crash
    }

    std::set<std::string> entries() const
    {
        std::set<std::string> names;
        UniqueFd fd(openat(arena_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        DIR* dir = fd ? fdopendir(fd.release()) : nullptr;
        if (!dir)
            die("cannot list the arena");
        while (dirent* entry = readdir(dir))
            if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0)
                names.insert(entry->d_name);
        closedir(dir);
        return names;
    }

    // A mount namespace of this process alone, in which every mount but the
    // working directory is read-only: should an archive escape by a path this
    // arena cannot see, it still changes nothing on the host. Without root, a
    // user namespace gives the same.
    static void enterPrivateMounts()
    {
        uid_t uid = getuid();
        gid_t gid = getgid();
        if (unshare(CLONE_NEWNS) < 0) {
            if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                die("cannot enter a mount namespace of its own");
            writeProcFile("/proc/self/setgroups", "deny");
            writeProcFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
            writeProcFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
        }
        if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
            die("cannot make the mounts private");
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd))
            die("cannot name the working directory");
        UniqueFd writable(open_tree(AT_FDCWD, ".", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        mount_attr readOnly{};
        readOnly.attr_set = MOUNT_ATTR_RDONLY;
        if (!writable || mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &readOnly, sizeof readOnly) < 0 ||
            move_mount(writable.get(), "", AT_FDCWD, cwd, MOVE_MOUNT_F_EMPTY_PATH) < 0 || chdir(cwd) < 0)
            die("cannot make the host read-only for this process");
    }

    static void writeProcFile(const char* path, const std::string& text)
    {
        UniqueFd fd(open(path, O_WRONLY | O_CLOEXEC));
        if (!fd || write(fd.get(), text.data(), text.size()) != ssize_t(text.size()))
            die(path);
    }

    UniqueFd arena_;
    UniqueFd workingDirectory_;
    struct stat sentinelStat_ { };
};

} // namespace bred::fuzz
