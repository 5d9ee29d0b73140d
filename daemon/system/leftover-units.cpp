#include "leftover-units.h"

#include "atomic-file.h"
#include "names.h"
#include "sd-bus-handles.h"

#include <chrono>
#include <cstring>
#include <fstream>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <systemd/sd-bus.h>

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

// The paths of systemd's jobs that have ended, from its JobRemoved signals.
int onJobRemoved(sd_bus_message* message, void* userdata, sd_bus_error*)
{
    std::uint32_t id = 0;
    const char *path = nullptr, *unit = nullptr, *result = nullptr;
    if (sd_bus_message_read(message, "uoss", &id, &path, &unit, &result) >= 0)
        static_cast<std::set<std::string>*>(userdata)->insert(path);
    return 0;
}

// Waits for JobRemoved of each of `jobs` (job path → unit), at most `timeout`; returns the units of
// those still under way.
std::vector<std::string> awaitJobs(sd_bus* bus, const std::set<std::string>& ended,
                                   std::map<std::string, std::string> jobs, std::chrono::seconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::erase_if(jobs, [&](const auto& job) { return ended.count(job.first) > 0; });
        auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
        if (jobs.empty() || left.count() <= 0)
            break;
        int r = sd_bus_process(bus, nullptr);
        if (r < 0)
            throw std::runtime_error(fmt::format("lost the connection to systemd: {}", std::strerror(-r)));
        if (r == 0 && (r = sd_bus_wait(bus, std::uint64_t(left.count()))) < 0 && r != -EINTR)
            throw std::runtime_error(fmt::format("cannot wait for systemd: {}", std::strerror(-r)));
    }
    std::vector<std::string> units;
    for (const auto& job : jobs)
        units.push_back(job.second);
    return units;
}

// The run units that are not inactive; throws std::runtime_error when systemd cannot say.
std::vector<std::string> activeRunUnits(sd_bus* bus)
{
    BusError error;
    sd_bus_message* rawReply = nullptr;
    int r = sd_bus_call_method(bus, systemdService, systemdPath, managerInterface, "ListUnitsByPatterns", &error.error,
                               &rawReply, "asas", 0, 1, runUnitPattern);
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

RunningCommandNote::RunningCommandNote(const std::string& machine, const std::string& unit) :
    path_(runningCommandNotes / unit)
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
        // systemd sends JobRemoved to subscribers only; the match comes first, so no end is missed.
        std::set<std::string> ended;
        r = sd_bus_match_signal(bus.get(), nullptr, systemdService, systemdPath, managerInterface, "JobRemoved",
                                onJobRemoved, &ended);
        if (r < 0)
            throw std::runtime_error(fmt::format("cannot watch systemd's jobs: {}", std::strerror(-r)));
        BusError subscribeError;
        r = sd_bus_call_method(bus.get(), systemdService, systemdPath, managerInterface, "Subscribe",
                               &subscribeError.error, nullptr, "");
        if (r < 0)
            throw std::runtime_error(fmt::format("systemd did not accept a subscription: {}", subscribeError.text(r)));
        std::map<std::string, std::string> stopJobs; // job path → unit
        for (const auto& unit : activeRunUnits(bus.get())) {
            BusError error;
            sd_bus_message* rawReply = nullptr;
            r = sd_bus_call_method(bus.get(), systemdService, systemdPath, managerInterface, "StopUnit", &error.error,
                                   &rawReply, "ss", unit.c_str(), "replace");
            Message reply(rawReply);
            const char* job = nullptr;
            if (r >= 0 && (r = sd_bus_message_read(reply.get(), "o", &job)) >= 0)
                stopJobs[job] = unit;
            done.push_back(r < 0 ? fmt::format("could not stop {}: {}", unit, error.text(r))
                                 : fmt::format("stopping {}", unit));
        }
        for (const auto& unit : awaitJobs(bus.get(), ended, stopJobs, stopDeadline))
            done.push_back(fmt::format("{} has not stopped within {} s", unit, stopDeadline.count()));
    } catch (const std::runtime_error& error) {
        done.emplace_back(error.what());
    }
    return done;
}

} // namespace bred
