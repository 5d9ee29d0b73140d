// Which machines systemd-machined has registered, i.e. which containers run,
// however they were started (by us, at boot, by `machinectl start`).
#pragma once

#include "unique-fd.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace sdbus {
class IConnection;
class IProxy;
} // namespace sdbus

namespace bred {

class MachinedWatcher {
public:
    // `onChange` runs on the loop thread whenever a machine starts or stops running.
    MachinedWatcher(sdbus::IConnection& bus, std::function<void(const std::string& name)> onChange);
    ~MachinedWatcher();

    // The systemd unit of the running machine `name`, or nullopt when it does not run.
    std::optional<std::string> runningUnit(const std::string& name) const;

    // machined's BindMountMachine: the bind appears in the running container at once.
    void bindMount(const std::string& name, const std::string& source, const std::string& destination, bool readOnly,
                   bool makeDestination, std::function<void(std::optional<std::string> error)> done);

    // machined's KillMachine: `signal` to the container's init ("leader") or to every process of its unit
    // ("all"). `done` gets nullopt, or the error's D-Bus name and message. machined rather than systemd's
    // KillUnit: only machined knows the leader (the container's PID 1; KillUnit's "main" is nspawn itself),
    // and it finds the unit of every container it registered, whether we, boot or machinectl started it.
    using CallDone = std::function<void(std::optional<std::pair<std::string, std::string>> error)>;
    void killMachine(const std::string& name, const std::string& whom, int signal, CallDone done);

    // machined's OpenMachineLogin: a pty opened inside the container (so a login that reopens its
    // terminal by name finds it under the container's /dev/pts) with a getty started on it by the
    // container's systemd. `done` gets the pty's master side and its path inside the container, or
    // the error's D-Bus name and message.
    using LoginDone = std::function<void(UniqueFd master, const std::string& ptyPath,
                                         std::optional<std::pair<std::string, std::string>> error)>;
    void openLogin(const std::string& name, LoginDone done);

    // machined's CopyToMachine (host `source` into the container's `destination`) or CopyFromMachine
    // (the container's `source` to the host's `destination`), in the container's own view of its files;
    // with `replace` the ...WithFlags variant (systemd 252 and later), whose absence `done` gets as
    // org.freedesktop.DBus.Error.UnknownMethod. `done` gets nullopt, or the error's D-Bus name and message.
    void copyFiles(const std::string& name, bool intoMachine, const std::string& source, const std::string& destination,
                   bool replace, CallDone done);

private:
    void added(const std::string& name, const std::string& objectPath);
    void removed(const std::string& name);

    sdbus::IConnection& bus_;
    std::function<void(const std::string&)> onChange_;
    std::unique_ptr<sdbus::IProxy> manager_;
    std::map<std::string, std::string> running_; // name → unit ("" until known)
    std::map<std::string, std::unique_ptr<sdbus::IProxy>> machineProxies_;
};

} // namespace bred
