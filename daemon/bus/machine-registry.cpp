#include "machine-registry.h"

#include "bus-names.h"
#include "current-error.h"
#include "event-loop.h"
#include "names.h"

#include <poll.h>
#include <set>
#include <spdlog/spdlog.h>

namespace bred {

MachineRegistry::MachineRegistry(sdbus::IConnection& bus, EventLoop& loop, MachineStore& store, const Config& config) :
    bus_(bus),
    loop_(loop),
    store_(store),
    directoryWatcher_(config.machinesDirectory, config.settingsDirectory, config.unitDirectory)
{
    loop_.watchFd(directoryWatcher_.fd(), POLLIN, [this](short) { onDirectoryEvents(); });
    machinedWatcher_ = std::make_unique<MachinedWatcher>(bus, [this](const std::string& name) { refresh(name); });
    diskUsageMeter_ =
        std::make_unique<DiskUsageMeter>([this](DiskUsageMeter::Task task) { loop_.post(std::move(task)); },
                                         [this](const std::string& name, std::uint64_t bytes) {
                                             if (auto it = objects_.find(name); it != objects_.end())
                                                 it->second->setDiskUsage(bytes);
                                         });
}

MachineRegistry::~MachineRegistry() { loop_.unwatchFd(directoryWatcher_.fd()); }

void MachineRegistry::setAnnouncers(Announcer onNew, Announcer onRemoved)
{
    onNew_ = std::move(onNew);
    onRemoved_ = std::move(onRemoved);
}

void MachineRegistry::refreshAll()
{
    std::set<std::string> names;
    for (const auto& name : store_.candidateNames())
        names.insert(name);
    for (const auto& [name, object] : objects_)
        names.insert(name);
    for (const auto& name : names)
        refresh(name);
}

void MachineRegistry::refresh(const std::string& name)
try {
    if (!isValidMachineName(name))
        return;
    auto info = store_.inspect(name);
    // Watch a directory even before it holds an OS tree, to see its os-release appear.
    directoryWatcher_.watchTree(name);
    auto existing = objects_.find(name);
    if (!info) {
        if (existing == objects_.end())
            return;
        auto path = bus::machinePath(name);
        spdlog::info("Machine {} is gone", name);
        if (onRemoved_)
            onRemoved_(name, path);
        objects_.erase(existing);
        return;
    }
    MachineView view;
    view.info = std::move(*info);
    auto unit = machinedWatcher_->runningUnit(name);
    if (unit) {
        view.state = "running";
        view.unit = *unit;
    }
    if (auto override = runStates_.find(name); override != runStates_.end()) {
        // A failed start is history once the container runs after all.
        if (!(unit && override->second == "failed"))
            view.state = override->second;
    }
    if (existing != objects_.end()) {
        existing->second->update(std::move(view));
        return;
    }
    spdlog::info("Machine {} found ({})", name, machineClassName(view.info.machineClass));
    objects_[name] = std::make_unique<MachineObject>(bus_, std::move(view), [this, name] { measureDiskUsage(name); });
    if (onNew_)
        onNew_(name, bus::machinePath(name));
} catch (...) {
    // Whatever a tree holds, the other machines, and the caller, go on.
    logCurrentError("Looking at machine " + name);
}

const MachineView* MachineRegistry::find(const std::string& name) const
{
    BRED_ASSERT_ON_LOOP_THREAD();
    auto it = objects_.find(name);
    return it == objects_.end() ? nullptr : &it->second->view();
}

std::vector<const MachineView*> MachineRegistry::list() const
{
    std::vector<const MachineView*> views;
    for (const auto& [name, object] : objects_)
        views.push_back(&object->view());
    return views;
}

void MachineRegistry::setRunState(const std::string& name, std::optional<std::string> state)
{
    if (state)
        runStates_[name] = *state;
    else
        runStates_.erase(name);
    refresh(name);
}

std::uint64_t MachineRegistry::diskUsage(const std::string& name, bool measureIfStale)
{
    auto it = objects_.find(name);
    return it == objects_.end() ? UINT64_MAX : it->second->diskUsage(measureIfStale);
}

void MachineRegistry::measureDiskUsage(const std::string& name)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    if (auto it = objects_.find(name); it != objects_.end())
        diskUsageMeter_->request(name, it->second->view().info.directory);
}

bool MachineRegistry::isRunning(const std::string& name) const
{
    return machinedWatcher_->runningUnit(name).has_value();
}

void MachineRegistry::onDirectoryEvents()
{
    auto changes = directoryWatcher_.readChanges();
    if (changes.rescanAll) {
        refreshAll();
        return;
    }
    for (const auto& name : changes.names)
        refresh(name);
}

} // namespace bred
