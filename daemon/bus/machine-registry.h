// Keeps one Machine object per machine in step with the machines directory,
// the settings files and systemd-machined.
#pragma once

#include "directory-watcher.h"
#include "disk-usage-meter.h"
#include "machine-object.h"
#include "machine-store.h"
#include "machined-watcher.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace bred {

class EventLoop;

class MachineRegistry {
public:
    using Announcer = std::function<void(const std::string& name, const std::string& path)>;

    MachineRegistry(sdbus::IConnection& bus, EventLoop& loop, MachineStore& store, const Config& config);
    ~MachineRegistry();

    // Signal hooks for the Manager's MachineNew / MachineRemoved.
    void setAnnouncers(Announcer onNew, Announcer onRemoved);

    void refreshAll();
    // Re-reads one machine: exports, updates or unexports its object.
    void refresh(const std::string& name);

    const MachineView* find(const std::string& name) const;
    std::vector<const MachineView*> list() const;
    bool isRunning(const std::string& name) const;
    MachinedWatcher& machined() { return *machinedWatcher_; }
    // While we start or stop a container, or after its start failed, its State
    // says so ("starting", "stopping", "failed"); nullopt goes back to what
    // systemd-machined says.
    void setRunState(const std::string& name, std::optional<std::string> state);
    // Queues a measurement of the machine's disk usage; its object signals the result.
    void measureDiskUsage(const std::string& name);
    // As MachineObject::diskUsage(); UINT64_MAX for no such machine.
    std::uint64_t diskUsage(const std::string& name, bool measureIfStale);

private:
    void onDirectoryEvents();

    sdbus::IConnection& bus_;
    EventLoop& loop_;
    MachineStore& store_;
    DirectoryWatcher directoryWatcher_;
    std::unique_ptr<MachinedWatcher> machinedWatcher_;
    Announcer onNew_, onRemoved_;
    std::map<std::string, std::unique_ptr<MachineObject>> objects_;
    std::map<std::string, std::string> runStates_;
    // Last: its worker, which posts to the objects, stops before they go.
    std::unique_ptr<DiskUsageMeter> diskUsageMeter_;
};

} // namespace bred
