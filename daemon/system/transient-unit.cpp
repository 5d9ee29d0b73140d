#include "transient-unit.h"

#include "errors.h"

#include <cstring>
#include <fmt/format.h>

namespace bred {
namespace {

constexpr const char* systemdService = "org.freedesktop.systemd1";
constexpr const char* systemdManager = "org.freedesktop.systemd1.Manager";

void check(int r)
{
    if (r < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot build the call to systemd: {}", std::strerror(-r)));
}

// The properties of a StartTransientUnit call that every unit running
// systemd-nspawn gets (device policy, cgroup, limits), appended to its open
// a(sv) array.
void appendConfinementProperties(sd_bus_message* call, const NspawnConfinement& confinement)
{
    check(sd_bus_message_append(call, "(sv)(sv)(sv)(sv)(sv)", "KillMode", "s", confinement.killMode.c_str(), "Delegate",
                                "b", int(confinement.delegate), "Slice", "s", confinement.slice.c_str(), "LimitNOFILE",
                                "t", confinement.limitNofile, "DevicePolicy", "s", confinement.devicePolicy.c_str()));
    for (const auto& [property, value] : resourceLimitProperties(confinement.limits, confinement.tasksMax))
        check(sd_bus_message_append(call, "(sv)", property.c_str(), "t", value));
    check(sd_bus_message_open_container(call, 'r', "sv"));
    check(sd_bus_message_append(call, "s", "DeviceAllow"));
    check(sd_bus_message_open_container(call, 'v', "a(ss)"));
    check(sd_bus_message_open_container(call, 'a', "(ss)"));
    for (const auto& [device, access] : confinement.deviceAllow)
        check(sd_bus_message_append(call, "(ss)", device.c_str(), access.c_str()));
    for (int level = 0; level < 3; ++level) // the array, the variant, the property
        check(sd_bus_message_close_container(call));
}

// ExecStart= running `command` word for word (systemd's "$" expansion escaped),
// appended to the open a(sv) array.
void appendExecStart(sd_bus_message* call, const std::vector<std::string>& command)
{
    std::vector<std::string> escaped;
    for (const auto& word : command)
        escaped.push_back(literalExecWord(word));
    std::vector<const char*> argv;
    for (const auto& word : escaped)
        argv.push_back(word.c_str());
    argv.push_back(nullptr);
    check(sd_bus_message_open_container(call, 'r', "sv"));
    check(sd_bus_message_append(call, "s", "ExecStart"));
    check(sd_bus_message_open_container(call, 'v', "a(sasb)"));
    check(sd_bus_message_open_container(call, 'a', "(sasb)"));
    check(sd_bus_message_open_container(call, 'r', "sasb"));
    check(sd_bus_message_append(call, "s", command.front().c_str()));
    check(sd_bus_message_append_strv(call, const_cast<char**>(argv.data())));
    check(sd_bus_message_append(call, "b", 0));
    for (int level = 0; level < 4; ++level) // the struct, the array, the variant, the property
        check(sd_bus_message_close_container(call));
}

} // namespace

TransientUnit containerTransientUnit(const std::string& unit, const ContainerService& service)
{
    TransientUnit transient;
    transient.name = unit;
    transient.description = service.description;
    transient.type = service.type;
    transient.command = service.command;
    transient.confinement = service.confinement;
    transient.notifyAccess = service.notifyAccess;
    transient.restart = service.restart;
    transient.rebootExitStatus = service.rebootExitStatus;
    return transient;
}

void appendTransientUnit(sd_bus_message* call, const TransientUnit& unit)
{
    check(sd_bus_message_append(call, "ss", unit.name.c_str(), "fail"));
    check(sd_bus_message_open_container(call, 'a', "(sv)"));
    check(sd_bus_message_append(call, "(sv)(sv)", "Description", "s", unit.description.c_str(), "Type", "s",
                                unit.type.c_str()));
    if (!unit.notifyAccess.empty())
        check(sd_bus_message_append(call, "(sv)", "NotifyAccess", "s", unit.notifyAccess.c_str()));
    if (!unit.restart.empty())
        check(sd_bus_message_append(call, "(sv)", "Restart", "s", unit.restart.c_str()));
    if (unit.rebootExitStatus)
        for (const char* property : {"RestartForceExitStatus", "SuccessExitStatus"})
            check(sd_bus_message_append(call, "(sv)", property, "(aiai)", 1, *unit.rebootExitStatus, 0));
    // A failed unit goes too, so the next start can create it again.
    check(sd_bus_message_append(call, "(sv)", "CollectMode", "s", "inactive-or-failed"));
    if (unit.stdio) {
        // Ours until the caller has waited for it: not collected before its exit status is read.
        check(sd_bus_message_append(call, "(sv)", "AddRef", "b", 1));
        auto appendStdio = [call](const char* fdProperty, const char* modeProperty, int fd) {
            if (fd >= 0)
                check(sd_bus_message_append(call, "(sv)", fdProperty, "h", fd));
            else
                check(sd_bus_message_append(call, "(sv)", modeProperty, "s", "null"));
        };
        appendStdio("StandardInputFileDescriptor", "StandardInput", unit.stdio->in);
        appendStdio("StandardOutputFileDescriptor", "StandardOutput", unit.stdio->out);
        appendStdio("StandardErrorFileDescriptor", "StandardError", unit.stdio->err);
    }
    if (!unit.user.empty())
        check(sd_bus_message_append(call, "(sv)", "User", "s", unit.user.c_str()));
    if (!unit.workingDirectory.empty())
        check(sd_bus_message_append(call, "(sv)", "WorkingDirectory", "s", unit.workingDirectory.c_str()));
    if (!unit.environment.empty()) {
        check(sd_bus_message_open_container(call, 'r', "sv"));
        check(sd_bus_message_append(call, "s", "Environment"));
        check(sd_bus_message_open_container(call, 'v', "as"));
        std::vector<const char*> strings;
        for (const auto& variable : unit.environment)
            strings.push_back(variable.c_str());
        strings.push_back(nullptr);
        check(sd_bus_message_append_strv(call, const_cast<char**>(strings.data())));
        check(sd_bus_message_close_container(call));
        check(sd_bus_message_close_container(call));
    }
    if (unit.confinement)
        appendConfinementProperties(call, *unit.confinement);
    appendExecStart(call, unit.command);
    check(sd_bus_message_close_container(call));
    check(sd_bus_message_append(call, "a(sa(sv))", 0));
}

Message transientUnitCall(sd_bus* bus, const TransientUnit& unit)
{
    sd_bus_message* raw = nullptr;
    check(sd_bus_message_new_method_call(bus, &raw, systemdService, "/org/freedesktop/systemd1", systemdManager,
                                         "StartTransientUnit"));
    Message call(raw);
    appendTransientUnit(call.get(), unit);
    return call;
}

} // namespace bred
