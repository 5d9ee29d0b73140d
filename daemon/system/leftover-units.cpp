#include "leftover-units.h"

#include "atomic-file.h"
#include "names.h"
#include "sd-bus-handles.h"

#include <chrono>
#include <cstring>
#include <fstream>
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
// Root in a container decides how fast its bus answers, if at all.
constexpr std::uint64_t containerCallTimeoutUsec = 5'000'000;
const std::filesystem::path runningCommandNotes = "/run/bred-machined/commands-in-containers";


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

// Stops the unit a note names inside its container, if that still runs, and
// removes the note. Returns what it did.
std::string stopNotedUnit(const std::filesystem::path& note)
{
    const std::string unit = note.filename().string();
    std::string machine;
    std::getline(std::ifstream(note), machine);
    std::error_code ignored;
    std::filesystem::remove(note, ignored);
    if (!isValidMachineName(machine) || !unit.starts_with("bred-run-") || !unit.ends_with(".service"))
        return fmt::format("removed the unreadable note {}", note.string());
    sd_bus* rawBus = nullptr;
    int r = sd_bus_open_system_machine(&rawBus, machine.c_str());
    Bus bus(rawBus);
    if (r < 0)
        return fmt::format("{} in {} is gone with the container ({})", unit, machine, std::strerror(-r));
    sd_bus_set_method_call_timeout(bus.get(), containerCallTimeoutUsec);
    BusError error;
    r = sd_bus_call_method(bus.get(), systemdService, systemdPath, managerInterface, "StopUnit", &error.error, nullptr,
                           "ss", unit.c_str(), "replace");
    if (r < 0 && !sd_bus_error_has_name(&error.error, "org.freedesktop.systemd1.NoSuchUnit"))
        return fmt::format("could not stop {} in {}: {}", unit, machine, error.text(r));
    return fmt::format("stopping {} in {}", unit, machine);
}

} // namespace

RunningCommandNote::RunningCommandNote(const std::string& machine, const std::string& unit)
    : path_(runningCommandNotes / unit)
{
    writeFileAtomically(path_, machine + "\n", 0600);
}

RunningCommandNote::~RunningCommandNote()
{
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
}

std::vector<std::string> stopLeftoverRunUnits()
{
    std::vector<std::string> done;
    std::error_code error;
    std::vector<std::filesystem::path> notes;
    for (const auto& note : std::filesystem::directory_iterator(runningCommandNotes, error))
        notes.push_back(note.path());
    for (const auto& note : notes)
        done.push_back(stopNotedUnit(note));
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
