#include "machined-watcher.h"

#include "current-error.h"
#include "event-loop.h"

#include "sdbus-compat.h"
#include <spdlog/spdlog.h>

namespace bred {
namespace {

constexpr const char* machinedService = "org.freedesktop.machine1";
constexpr const char* machinedManagerInterface = "org.freedesktop.machine1.Manager";

} // namespace

MachinedWatcher::MachinedWatcher(sdbus::IConnection& bus, std::function<void(const std::string&)> onChange) :
    bus_(bus),
    onChange_(std::move(onChange)),
    manager_(
        sdbus::createProxy(bus, dbus::ServiceName{machinedService}, sdbus::ObjectPath{"/org/freedesktop/machine1"}))
{
    BRED_ASSERT_ON_LOOP_THREAD();
    manager_->uponSignal("MachineNew")
        .onInterface(machinedManagerInterface)
        .call([this](const std::string& name, const sdbus::ObjectPath& path) { added(name, path); });
    manager_->uponSignal("MachineRemoved")
        .onInterface(machinedManagerInterface)
        .call([this](const std::string& name, const sdbus::ObjectPath&) { removed(name); });
    dbus::finishSignalRegistration(*manager_);

    using MachineEntry = sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>;
    manager_->callMethodAsync("ListMachines")
        .onInterface(machinedManagerInterface)
        .uponReplyInvoke([this](dbus::CallError error, const std::vector<MachineEntry>& machines) {
            if (error) {
                spdlog::info("systemd-machined is not available ({}); containers are shown as stopped",
                             error->getMessage());
                return;
            }
            for (const auto& machine : machines)
                added(machine.get<0>(), machine.get<3>());
        });
}

MachinedWatcher::~MachinedWatcher() = default;

std::optional<std::string> MachinedWatcher::runningUnit(const std::string& name) const
{
    auto it = running_.find(name);
    if (it == running_.end())
        return std::nullopt;
    return it->second;
}

void MachinedWatcher::bindMount(const std::string& name, const std::string& source, const std::string& destination,
                                bool readOnly, bool makeDestination,
                                std::function<void(std::optional<std::string>)> done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    done = loggingFailures("After a machined call", std::move(done));
    manager_->callMethodAsync("BindMountMachine")
        .onInterface(machinedManagerInterface)
        .withArguments(name, source, destination, readOnly, makeDestination)
        .uponReplyInvoke([done](dbus::CallError error) {
            done(error ? std::optional<std::string>(error->getMessage()) : std::nullopt);
        });
}

void MachinedWatcher::killMachine(const std::string& name, const std::string& whom, int signal, CallDone done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    done = loggingFailures("After a machined call", std::move(done));
    manager_->callMethodAsync("KillMachine")
        .onInterface(machinedManagerInterface)
        .withArguments(name, whom, std::int32_t(signal))
        .uponReplyInvoke([done](dbus::CallError error) {
            if (error)
                done(std::pair<std::string, std::string>(error->getName(), error->getMessage()));
            else
                done(std::nullopt);
        });
}

void MachinedWatcher::openLogin(const std::string& name, LoginDone done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    done = loggingFailures("After a machined call", std::move(done));
    manager_->callMethodAsync("OpenMachineLogin")
        .onInterface(machinedManagerInterface)
        .withArguments(name)
        .uponReplyInvoke([done](dbus::CallError error, sdbus::UnixFd master, const std::string& ptyPath) {
            if (error)
                return done(UniqueFd(), "", std::pair<std::string, std::string>(error->getName(), error->getMessage()));
            done(UniqueFd(master.release()), ptyPath, std::nullopt);
        });
}

void MachinedWatcher::copyFiles(const std::string& name, bool intoMachine, const std::string& source,
                                const std::string& destination, bool replace, CallDone done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    done = loggingFailures("After a machined call", std::move(done));
    // machined's MACHINE_COPY_REPLACE.
    constexpr std::uint64_t copyReplace = 1;
    const std::string method =
        std::string(intoMachine ? "CopyToMachine" : "CopyFromMachine") + (replace ? "WithFlags" : "");
    auto call = manager_->callMethodAsync(method);
    call.onInterface(machinedManagerInterface);
    if (replace)
        call.withArguments(name, source, destination, copyReplace);
    else
        call.withArguments(name, source, destination);
    // A copy takes as long as it takes: no D-Bus timeout (sd-bus's "infinity") ends the job while machined copies.
    call.withTimeout(UINT64_MAX).uponReplyInvoke([done](dbus::CallError error) {
        if (error)
            done(std::pair<std::string, std::string>(error->getName(), error->getMessage()));
        else
            done(std::nullopt);
    });
}

void MachinedWatcher::added(const std::string& name, const std::string& objectPath)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    if (running_.count(name))
        return;
    running_[name] = "";
    onChange_(name);
    auto proxy = sdbus::createProxy(bus_, dbus::ServiceName{machinedService}, sdbus::ObjectPath{objectPath});
    proxy->callMethodAsync("Get")
        .onInterface("org.freedesktop.DBus.Properties")
        .withArguments(std::string("org.freedesktop.machine1.Machine"), std::string("Unit"))
        .uponReplyInvoke([this, name](dbus::CallError error, const sdbus::Variant& unit) {
            // The proxy must outlive this callback: it goes when the machine does.
            auto it = running_.find(name);
            if (error || it == running_.end())
                return;
            it->second = unit.get<std::string>();
            onChange_(name);
        });
    machineProxies_[name] = std::move(proxy);
}

void MachinedWatcher::removed(const std::string& name)
{
    machineProxies_.erase(name);
    if (running_.erase(name))
        onChange_(name);
}

} // namespace bred
