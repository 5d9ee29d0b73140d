// Tells which machines may have changed: trees appearing, vanishing or renamed
// in the machines directory, their os-release appearing or changing, and their
// settings files or boot-time enablement changing.
#pragma once

#include "unique-fd.h"

#include <filesystem>
#include <map>
#include <set>
#include <string>

namespace bred {

class DirectoryWatcher {
public:
    DirectoryWatcher(const std::filesystem::path& machinesDirectory, const std::filesystem::path& settingsDirectory,
                     const std::filesystem::path& unitDirectory);

    int fd() const { return inotify_.get(); }

    // Watches the directories of tree `name` where its os-release can appear or change.
    void watchTree(const std::string& name);

    struct Changes {
        bool rescanAll = false; // events were lost: look at everything again
        std::set<std::string> names;
    };
    // Reads what is pending on fd() without blocking.
    Changes readChanges();

private:
    enum class WatchKind { Machines, Settings, BootWants, TreeTop, TreeEtc, TreeUsr, TreeUsrLib, TreeUsrBin };
    struct Watch {
        WatchKind kind;
        std::string machine; // for tree watches
    };
    void addWatch(const std::filesystem::path& path, std::uint32_t mask, Watch watch);

    std::filesystem::path machinesDirectory_;
    UniqueFd inotify_;
    std::map<int, Watch> watches_;
};

} // namespace bred
