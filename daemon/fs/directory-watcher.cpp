#include "directory-watcher.h"

#include "errors.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <sys/inotify.h>
#include <unistd.h>

namespace bred {
namespace {

constexpr std::uint32_t entryEvents =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW;

std::string machineFromFileName(std::string_view fileName, std::string_view prefix, std::string_view suffix)
{
    if (fileName.size() <= prefix.size() + suffix.size() || !fileName.starts_with(prefix) ||
        !fileName.ends_with(suffix))
        return {};
    return std::string(fileName.substr(prefix.size(), fileName.size() - prefix.size() - suffix.size()));
}

} // namespace

DirectoryWatcher::DirectoryWatcher(const std::filesystem::path& machinesDirectory,
                                   const std::filesystem::path& settingsDirectory,
                                   const std::filesystem::path& unitDirectory) :
    machinesDirectory_(machinesDirectory),
    inotify_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
{
    if (!inotify_)
        throw Error(ErrorCode::Failed, fmt::format("inotify: {}", std::strerror(errno)));
    addWatch(machinesDirectory, entryEvents, {WatchKind::Machines, {}});
    // These may not exist yet; machines then simply have no settings or boot links.
    addWatch(settingsDirectory, entryEvents, {WatchKind::Settings, {}});
    addWatch(unitDirectory / "machines.target.wants", entryEvents, {WatchKind::BootWants, {}});
}

void DirectoryWatcher::addWatch(const std::filesystem::path& path, std::uint32_t mask, Watch watch)
{
    int wd = inotify_add_watch(inotify_.get(), path.c_str(), mask);
    if (wd >= 0)
        watches_[wd] = std::move(watch);
}

void DirectoryWatcher::watchTree(const std::string& name)
{
    auto top = machinesDirectory_ / name;
    addWatch(top, entryEvents, {WatchKind::TreeTop, name});
    addWatch(top / "etc", entryEvents, {WatchKind::TreeEtc, name});
    addWatch(top / "usr", entryEvents, {WatchKind::TreeUsr, name});
    addWatch(top / "usr/lib", entryEvents, {WatchKind::TreeUsrLib, name});
    addWatch(top / "usr/bin", entryEvents, {WatchKind::TreeUsrBin, name});
}

DirectoryWatcher::Changes DirectoryWatcher::readChanges()
{
    Changes changes;
    alignas(inotify_event) char buffer[16384];
    for (;;) {
        ssize_t length = read(inotify_.get(), buffer, sizeof buffer);
        if (length <= 0)
            break;
        for (char* cursor = buffer; cursor < buffer + length;) {
            auto* event = reinterpret_cast<inotify_event*>(cursor);
            cursor += sizeof(inotify_event) + event->len;
            if (event->mask & IN_Q_OVERFLOW) {
                changes.rescanAll = true;
                continue;
            }
            auto it = watches_.find(event->wd);
            if (it == watches_.end())
                continue;
            const Watch& watch = it->second;
            std::string_view name = event->len ? event->name : "";
            switch (watch.kind) {
            case WatchKind::Machines:
                if (!name.empty())
                    changes.names.insert(std::string(name));
                break;
            case WatchKind::Settings:
                if (auto machine = machineFromFileName(name, "", ".nspawn"); !machine.empty())
                    changes.names.insert(machine);
                break;
            case WatchKind::BootWants:
                if (auto machine = machineFromFileName(name, "systemd-nspawn@", ".service"); !machine.empty())
                    changes.names.insert(machine);
                break;
            case WatchKind::TreeTop:
                if (name == "etc" || name == "usr")
                    changes.names.insert(watch.machine);
                break;
            case WatchKind::TreeUsr:
                if (name == "lib" || name == "bin")
                    changes.names.insert(watch.machine);
                break;
            case WatchKind::TreeUsrBin:
                // The binaries the architecture is read from.
                if (name == "sh" || name == "env" || name == "bash" || name == "busybox")
                    changes.names.insert(watch.machine);
                break;
            case WatchKind::TreeEtc:
            case WatchKind::TreeUsrLib:
                if (name == "os-release")
                    changes.names.insert(watch.machine);
                break;
            }
            if (event->mask & IN_IGNORED)
                watches_.erase(event->wd);
        }
    }
    return changes;
}

} // namespace bred
