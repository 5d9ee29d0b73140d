#include "leftover-units.h"

#include "sd-bus-handles.h"

#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <stdexcept>
#include <systemd/sd-bus.h>
#include <thread>

namespace bred {
namespace {

constexpr const char* systemdService = "org.freedesktop.systemd1";
constexpr const char* systemdPath = "/org/freedesktop/systemd1";
constexpr const char* managerInterface = "org.freedesktop.systemd1.Manager";
// The names container-run gives the units of commands in stopped trees.
constexpr const char* runUnitPattern = "bred-run-*.service";
// nspawn gets its payload to end cleanly first; KillMode=mixed ends the rest.
constexpr auto stopDeadline = std::chrono::seconds(30);


// The run units that are not inactive; throws std::runtime_error when systemd cannot say.
std::vector<std::string> activeRunUnits(sd_bus* bus)
{
    BusError error;
    sd_bus_message* rawReply = nullptr;
    int r = sd_bus_call_method(bus, systemdService, systemdPath, managerInterface, "ListUnitsByPatterns",
                               &error.error, &rawReply, "asas", 0, 1, runUnitPattern);
    Message reply(rawReply);
    if (r < 0)
        throw std::runtime_error(fmt::format("systemd did not list units: {}", error.text(r)));
    std::vector<std::string> units;
    if ((r = sd_bus_message_enter_container(reply.get(), 'a', "(ssssssouso)")) < 0)
        throw std::runtime_error(fmt::format("cannot read systemd's list of units: {}", std::strerror(-r)));
    const char *name = nullptr, *activeState = nullptr;
    while ((r = sd_bus_message_read(reply.get(), "(ssssssouso)", &name, nullptr, nullptr, &activeState, nullptr,
                                    nullptr, nullptr, nullptr, nullptr, nullptr)) > 0)
        if (std::strcmp(activeState, "inactive") != 0 && std::strcmp(activeState, "failed") != 0)
            units.emplace_back(name);
    if (r < 0)
        throw std::runtime_error(fmt::format("cannot read systemd's list of units: {}", std::strerror(-r)));
    return units;
}

} // namespace

std::vector<std::string> stopLeftoverRunUnits()
{
    std::vector<std::string> done;
    sd_bus* rawBus = nullptr;
    int r = sd_bus_open_system(&rawBus);
    Bus bus(rawBus);
    if (r < 0)
        return {fmt::format("could not reach systemd to stop units of interrupted jobs: {}", std::strerror(-r))};
    try {
        auto units = activeRunUnits(bus.get());
        for (const auto& unit : units) {
            BusError error;
            r = sd_bus_call_method(bus.get(), systemdService, systemdPath, managerInterface, "StopUnit", &error.error,
                                   nullptr, "ss", unit.c_str(), "replace");
            done.push_back(r < 0 ? fmt::format("could not stop {}: {}", unit, error.text(r))
                                 : fmt::format("stopping {}", unit));
        }
        auto deadline = std::chrono::steady_clock::now() + stopDeadline;
        while (!units.empty() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            units = activeRunUnits(bus.get());
        }
        for (const auto& unit : units)
            done.push_back(fmt::format("{} has not stopped within {} s", unit, stopDeadline.count()));
    } catch (const std::runtime_error& error) {
        done.emplace_back(error.what());
    }
    return done;
}

} // namespace bred
