#include "verbs.h"

#include "architecture.h"
#include "child-process.h"
#include "format.h"
#include "journal-tail.h"
#include "limit-values.h"
#include "names.h"
#include "process-tree.h"
#include "terminal-relay.h"
#include "unique-fd.h"

#include <algorithm>
#include <chrono>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <optional>
#include <sstream>
#include <sys/ioctl.h>
#include <unistd.h>

namespace bred::client {
namespace {

using Arguments = std::vector<std::string>;
using OptionMap = std::map<std::string, sdbus::Variant>;
using Json = nlohmann::json;

constexpr std::uint64_t unknownDiskUsage = UINT64_MAX;

Json variantToJson(const sdbus::Variant& value)
{
    std::string type = value.peekValueType();
    if (type == "s" || type == "o")
        return value.get<std::string>();
    if (type == "b")
        return value.get<bool>();
    if (type == "t")
        return value.get<std::uint64_t>();
    if (type == "u")
        return value.get<std::uint32_t>();
    if (type == "i")
        return value.get<std::int32_t>();
    if (type == "d")
        return value.get<double>();
    if (type == "as")
        return value.get<std::vector<std::string>>();
    if (type == "a{ss}")
        return value.get<std::map<std::string, std::string>>();
    if (type == "a{sv}") {
        Json out = Json::object();
        for (const auto& [key, item] : value.get<std::map<std::string, sdbus::Variant>>())
            out[key] = variantToJson(item);
        return out;
    }
    if (type == "a(ssb)") {
        Json out = Json::array();
        for (const auto& bind : value.get<std::vector<sdbus::Struct<std::string, std::string, bool>>>())
            out.push_back({{"source", bind.get<0>()}, {"destination", bind.get<1>()}, {"read_only", bind.get<2>()}});
        return out;
    }
    return nullptr;
}

template <typename T>
T property(const Properties& properties, const std::string& name, T fallback = {})
{
    auto it = properties.find(dbus::PropertyName{name});
    return it == properties.end() ? fallback : it->second.get<T>();
}

// The Limits property's values by key ('u' and 't' alike).
std::map<std::string, std::uint64_t> limitsOf(const Properties& machine)
{
    std::map<std::string, std::uint64_t> limits;
    for (const auto& [key, value] : property<std::map<std::string, sdbus::Variant>>(machine, "Limits")) {
        if (value.containsValueOfType<std::uint32_t>())
            limits[key] = value.get<std::uint32_t>();
        else if (value.containsValueOfType<std::uint64_t>())
            limits[key] = value.get<std::uint64_t>();
    }
    return limits;
}

std::string osName(const Properties& machine)
{
    return osDisplayName(property<std::map<std::string, std::string>>(machine, "OSRelease"));
}

std::string diskUsageText(const Properties& machine)
{
    auto bytes = property<std::uint64_t>(machine, "DiskUsage", unknownDiskUsage);
    return bytes == unknownDiskUsage ? "not measured yet (being measured now)" : formatBytes(bytes);
}

std::string formatTimestamp(std::uint64_t usec)
{
    if (usec == 0)
        return "unknown";
    std::time_t seconds = static_cast<std::time_t>(usec / 1000000);
    std::tm local{};
    localtime_r(&seconds, &local);
    char text[64];
    std::strftime(text, sizeof text, "%a %Y-%m-%d %H:%M:%S %Z", &local);
    return text;
}

std::size_t terminalWidth()
{
    winsize size{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    return SIZE_MAX; // not a terminal: nothing is cut
}

void requireMachineName(const std::string& name)
{
    if (!isValidMachineName(name))
        throw UsageError("'" + name + "' is not a valid machine name (1 to 64 letters, digits, '-' and '.').");
}

// "a,b,,c" as a, b, c.
std::vector<std::string> commaList(const std::vector<std::string>& texts)
{
    std::vector<std::string> items;
    for (const auto& text : texts) {
        std::istringstream list(text);
        for (std::string item; std::getline(list, item, ',');)
            if (!item.empty())
                items.push_back(item);
    }
    return items;
}

// "SIGKILL", "KILL" or "9".
int parseSignal(const std::string& text)
{
    std::string name = text.compare(0, 3, "SIG") == 0 ? text.substr(3) : text;
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        int number = name.size() > 3 ? 0 : std::stoi(name);
        if (number >= 1 && number <= SIGRTMAX)
            return number;
    }
    for (int number = 1; number < SIGRTMIN; ++number)
        if (const char* abbreviation = sigabbrev_np(number); abbreviation && name == abbreviation)
            return number;
    throw UsageError("'" + text + "' is not a signal; give a name such as SIGTERM or KILL, or a number.");
}

std::uint32_t parseJobId(const std::string& text)
{
    try {
        std::size_t used = 0;
        unsigned long value = std::stoul(text, &used);
        if (used == text.size() && value != 0 && value <= UINT32_MAX && text[0] != '-')
            return static_cast<std::uint32_t>(value);
    } catch (const std::logic_error&) {
    }
    throw UsageError("'" + text + "' is not a job id; 'bredmachine jobs' lists them.");
}

// logs' --lines: a count of lines.
void parseLineCount(const std::string& text)
{
    if (text.empty() || text.size() > 9 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        throw UsageError("--lines takes a number of lines, not '" + text + "'.");
}

// "[USER@]NAME": the user (default root) and the machine.
std::pair<std::string, std::string> splitUserAtMachine(const std::string& text)
{
    auto at = text.rfind('@');
    std::string user = at == std::string::npos || at == 0 ? "root" : text.substr(0, at);
    std::string machine = at == std::string::npos ? text : text.substr(at + 1);
    requireMachineName(machine);
    if (!isValidUserName(user))
        throw UsageError("'" + user + "' is not a valid user name.");
    return {user, machine};
}

class Verbs {
public:
    Verbs(BusClient& bus, const CommandLine& line, const Output& output) :
        bus_(bus),
        line_(line),
        args_(line.arguments),
        output_(output)
    {
    }

    int run(const std::string& verb)
    {
        static const std::map<std::string, int (Verbs::*)()> table{
            {"list", &Verbs::list},
            {"status", &Verbs::status},
            {"jobs", &Verbs::jobs},
            {"distros", &Verbs::distros},
            {"recipes", &Verbs::recipes},
            {"cancel", &Verbs::cancel},
            {"create-template", &Verbs::createTemplate},
            {"create", &Verbs::create},
            {"import", &Verbs::importTemplate},
            {"export", &Verbs::exportMachine},
            {"clone", &Verbs::clone},
            {"convert", &Verbs::convert},
            {"start", &Verbs::start},
            {"stop", &Verbs::stop},
            {"poweroff", &Verbs::stop},
            {"terminate", &Verbs::stop},
            {"reboot", &Verbs::reboot},
            {"kill", &Verbs::kill},
            {"enable", &Verbs::enable},
            {"disable", &Verbs::disable},
            {"bind", &Verbs::bind},
            {"unbind", &Verbs::unbind},
            {"network", &Verbs::network},
            {"add-user", &Verbs::addUser},
            {"run", &Verbs::runInside},
            {"shell", &Verbs::shell},
            {"login", &Verbs::login},
            {"logs", &Verbs::logs},
            {"remove", &Verbs::remove},
            {"rename", &Verbs::rename},
            {"copy-to", &Verbs::copy},
            {"copy-from", &Verbs::copy},
            {"limit", &Verbs::limit},
        };
        return (this->*table.at(verb))();
    }

private:
    int list()
    {
        const bool withSize = line_.has("size");
        // One call, with exactly what the listing shows (as machinectl's ListImages).
        std::vector<sdbus::Struct<std::string, std::string, std::string, std::string, std::string, std::uint64_t,
                                  sdbus::ObjectPath>>
            machines;
        bus_.manager()
            .raw()
            .callMethod("ListMachinesEx")
            .onInterface(bus::managerInterface)
            .withArguments(withSize ? bus::listMachinesMeasureDiskUsage : std::uint64_t(0))
            .storeResultsTo(machines);
        std::sort(machines.begin(), machines.end(),
                  [](const auto& a, const auto& b) { return a.template get<0>() < b.template get<0>(); });
        if (output_.json()) {
            Json out = Json::array();
            for (const auto& machine : machines) {
                Json entry{{"name", machine.get<0>()},         {"class", machine.get<1>()},
                           {"state", machine.get<2>()},        {"os", machine.get<3>()},
                           {"architecture", machine.get<4>()}, {"path", std::string(machine.get<6>())}};
                if (withSize)
                    entry["disk_usage"] = machine.get<5>() == unknownDiskUsage ? Json(nullptr) : Json(machine.get<5>());
                out.push_back(std::move(entry));
            }
            output_.printJson(out);
            return ExitSuccess;
        }
        const bool colour = colourWanted(STDOUT_FILENO);
        std::vector<std::vector<std::string>> rows{{"NAME", "CLASS", "STATE", "OS", "ARCH"}};
        if (withSize)
            rows[0].push_back("DISK");
        for (const auto& machine : machines) {
            rows.push_back({machine.get<0>(), machine.get<1>(), colourState(machine.get<2>(), colour), machine.get<3>(),
                            machine.get<4>().empty() ? "-" : machine.get<4>()});
            if (withSize)
                rows.back().push_back(machine.get<5>() == unknownDiskUsage ? "-" : formatBytes(machine.get<5>()));
        }
        output_.printTable(
            rows, std::to_string(machines.size()) + (machines.size() == 1 ? " machine" : " machines") + " listed.",
            "No machines.");
        return ExitSuccess;
    }

    // One call per machine: all its properties; the daemon's own error when there is no such machine.
    Properties machineProperties(const std::string& name)
    {
        try {
            return MachineProxy(bus_.connection(), bus::machinePath(name)).GetAll(bus::machineInterface);
        } catch (const sdbus::Error& error) {
            if (error.getName() != "org.freedesktop.DBus.Error.UnknownObject" &&
                error.getName() != "org.freedesktop.DBus.Error.UnknownInterface")
                throw;
        }
        bus_.manager().GetMachine(name); // throws NoSuchMachine in the daemon's words
        throw std::runtime_error("machine " + name + " vanished");
    }

    int status()
    {
        bool first = true;
        for (const auto& name : args_) {
            auto properties = propertiesWithDiskUsage(name);
            if (output_.json()) {
                Json out = Json::object();
                for (const auto& [key, value] : properties)
                    out[std::string(key)] = variantToJson(value);
                UnitUsage usage = unitUsage(property<std::string>(properties, "Unit"));
                Json use = Json::object();
                for (const auto& [key, value] :
                     {std::pair{"MemoryCurrent", usage.memoryBytes}, std::pair{"TasksCurrent", usage.tasks},
                      std::pair{"CPUUsageNSec", usage.cpuNanoseconds}})
                    use[key] = value ? Json(*value) : Json(nullptr);
                out["Usage"] = use;
                output_.printJson(out);
                continue;
            }
            if (!first)
                std::cout << "\n";
            first = false;
            printStatus(name, properties);
        }
        return ExitSuccess;
    }

    // Calls `changed` with each new value of the machine's property `name` the daemon signals, while the slot lives.
    sdbus::Slot watchMachineProperty(const std::string& machine, const std::string& name,
                                     std::function<void(const sdbus::Variant&)> changed)
    {
        return dbus::addMatch(
            bus_.connection(),
            fmt::format("type='signal',sender='{}',path='{}',interface='org.freedesktop.DBus.Properties',"
                        "member='PropertiesChanged',arg0='{}'",
                        bus::serviceName, bus::machinePath(machine), bus::machineInterface),
            [name, changed = std::move(changed)](dbus::ReceivedMessage message) {
                std::string interface;
                std::map<std::string, sdbus::Variant> values;
                message >> interface >> values;
                if (auto value = values.find(name); value != values.end())
                    changed(value->second);
            });
    }

    // The machine's properties. Reading DiskUsage starts a measurement when it
    // is unknown or old: a small tree's takes a moment, so wait up to two
    // seconds for it to be signalled (subscribed before the read, so it cannot
    // slip past) rather than show "not measured yet".
    Properties propertiesWithDiskUsage(const std::string& name)
    {
        std::optional<sdbus::Variant> measured;
        auto diskUsageWatch =
            watchMachineProperty(name, "DiskUsage", [&](const sdbus::Variant& usage) { measured = usage; });
        auto properties = machineProperties(name);
        if (property<std::uint64_t>(properties, "DiskUsage", unknownDiskUsage) != unknownDiskUsage)
            return properties;
        bool waited = false;
        auto timer = bus_.loop().addTimer(std::chrono::seconds(2), [&] { waited = true; });
        bus_.loop().runUntil([&] { return waited || measured.has_value(); });
        bus_.loop().cancelTimer(timer);
        if (measured)
            properties[dbus::PropertyName{"DiskUsage"}] = *measured;
        return properties;
    }

    void printStatus(const std::string& name, const Properties& properties)
    {
        const bool colour = colourWanted(STDOUT_FILENO);
        auto unit = property<std::string>(properties, "Unit");
        auto arch = property<std::string>(properties, "Architecture");
        std::cout << property<std::string>(properties, "Name") << " (" << property<std::string>(properties, "Class")
                  << ")\n";
        std::vector<std::vector<std::string>> rows{
            {"State:", colourState(property<std::string>(properties, "State"), colour)},
            {"Unit:", unit.empty() ? "-" : unit},
            {"Directory:", property<std::string>(properties, "Directory")},
            {"OS:", osName(properties)},
            {"Architecture:", arch.empty() ? "unknown" : arch},
            {"Read-only:", property<bool>(properties, "ReadOnly") ? "yes" : "no"},
            {"Enabled:", property<bool>(properties, "Enabled") ? "yes" : "no"},
            {"Created:", formatTimestamp(property<std::uint64_t>(properties, "CreationTimestamp"))},
            {"Disk usage:", diskUsageText(properties)},
        };
        if (auto verification = property<std::string>(properties, "Verification"); !verification.empty())
            rows.push_back(
                {"Verified:", formatVerification(verification, property<std::string>(properties, "VerificationKey"))});
        auto network = property<std::map<std::string, sdbus::Variant>>(properties, "Network");
        std::string networkText = network.count("mode") ? network["mode"].get<std::string>() : "host";
        if (network.count("bridge"))
            networkText += " (bridge " + network["bridge"].get<std::string>() + ")";
        if (network.count("address"))
            networkText += ", host0 " + network["address"].get<std::string>();
        else if (network.count("dhcp") && network["dhcp"].get<bool>())
            networkText += ", host0 by DHCP";
        rows.push_back({"Network:", networkText});
        auto binds = property<std::vector<sdbus::Struct<std::string, std::string, bool>>>(properties, "Binds");
        if (binds.empty())
            rows.push_back({"Binds:", "-"});
        for (std::size_t i = 0; i < binds.size(); ++i)
            rows.push_back({i == 0 ? "Binds:" : "", binds[i].get<0>() + " -> " + binds[i].get<1>() +
                                                        (binds[i].get<2>() ? " (read-only)" : "")});
        auto limitValues = limitsOf(properties);
        for (auto& row : limitRows(limitValues, unitUsage(unit)))
            rows.push_back(std::move(row));
        auto addresses = machineAddresses(name);
        for (std::size_t i = 0; i < addresses.size(); ++i)
            rows.push_back({i == 0 ? "Address:" : "", addresses[i]});
        auto tree = unit.empty() ? std::vector<std::string>{} : processTree(unit);
        for (std::size_t i = 0; i < tree.size(); ++i)
            rows.push_back({i == 0 ? "CGroup:" : "", tree[i]});
        std::istringstream table(formatTable(rows));
        for (std::string row; std::getline(table, row);)
            std::cout << "  " << row << "\n";
        // The journal is this machine's, so a remote machine's is not at hand.
        if (line_.global.host.empty())
            printJournalTail(unit.empty() ? "bred-machine-" + name + ".service" : unit);
    }

    std::unique_ptr<sdbus::IProxy> systemdManager()
    {
        return sdbus::createProxy(bus_.connection(), dbus::ServiceName{"org.freedesktop.systemd1"},
                                  sdbus::ObjectPath{"/org/freedesktop/systemd1"});
    }

    // systemd's object of a loaded unit; throws sdbus::Error when it is not loaded.
    sdbus::ObjectPath systemdUnitPath(const std::string& unit)
    {
        sdbus::ObjectPath unitPath;
        systemdManager()
            ->callMethod("GetUnit")
            .onInterface("org.freedesktop.systemd1.Manager")
            .withArguments(unit)
            .storeResultsTo(unitPath);
        return unitPath;
    }

    // The unit's control group, then its processes below it, as systemd reports them.
    std::vector<std::string> processTree(const std::string& unit)
    {
        try {
            const sdbus::ObjectPath unitPath = systemdUnitPath(unit);
            sdbus::Variant controlGroup;
            sdbus::createProxy(bus_.connection(), dbus::ServiceName{"org.freedesktop.systemd1"}, unitPath)
                ->callMethod("Get")
                .onInterface("org.freedesktop.DBus.Properties")
                .withArguments(std::string("org.freedesktop.systemd1.Service"), std::string("ControlGroup"))
                .storeResultsTo(controlGroup);
            std::vector<sdbus::Struct<std::string, std::uint32_t, std::string>> found;
            auto systemd = systemdManager();
            // A process that ends while systemd reads it can fail the call (a container that has just
            // booted has short-lived ones): the next try sees the cgroups without it.
            for (int attempt = 1;; ++attempt) {
                try {
                    systemd->callMethod("GetUnitProcesses")
                        .onInterface("org.freedesktop.systemd1.Manager")
                        .withArguments(unit)
                        .storeResultsTo(found);
                    break;
                } catch (const sdbus::Error&) {
                    if (attempt == 3)
                        throw;
                }
            }
            std::vector<UnitProcess> processes;
            for (const auto& process : found)
                processes.push_back({process.get<0>(), process.get<1>(), process.get<2>()});
            std::string root = controlGroup.get<std::string>();
            auto lines = drawProcessTree(root, processes, terminalWidth() > 20 ? terminalWidth() - 18 : SIZE_MAX);
            lines.insert(lines.begin(), root);
            return lines;
        } catch (const sdbus::Error& error) {
            // Stopped meanwhile, or systemd's API out of reach: the rest of the status still helps.
            output_.note("The processes of " + unit + " are not shown: " + error.getMessage());
            return {};
        }
    }

    // The container's IP addresses, as machined reads them from inside; none when it is not running.
    std::vector<std::string> machineAddresses(const std::string& machine)
    {
        std::vector<sdbus::Struct<std::int32_t, std::vector<std::uint8_t>>> found;
        try {
            auto machined = sdbus::createProxy(bus_.connection(), dbus::ServiceName{"org.freedesktop.machine1"},
                                               sdbus::ObjectPath{"/org/freedesktop/machine1"});
            machined->callMethod("GetMachineAddresses")
                .onInterface("org.freedesktop.machine1.Manager")
                .withArguments(machine)
                .storeResultsTo(found);
        } catch (const sdbus::Error&) {
            return {};
        }
        std::vector<std::string> addresses;
        for (const auto& entry : found) {
            const int family = entry.get<0>();
            const auto& bytes = entry.get<1>();
            char text[INET6_ADDRSTRLEN] = {};
            if ((family == AF_INET && bytes.size() == 4) || (family == AF_INET6 && bytes.size() == 16))
                if (inet_ntop(family, bytes.data(), text, sizeof text))
                    addresses.emplace_back(text);
        }
        return addresses;
    }

    void printJournalTail(const std::string& unit)
    {
        auto lines = unitJournalTail(unit, 10);
        if (lines.empty()) {
            if (geteuid() != 0 && !line_.global.quiet)
                std::cout << "\nNo journal lines of " << unit << " are visible to this user (root and members of "
                          << "'adm' or 'systemd-journal' see them).\n";
            return;
        }
        std::cout << "\n";
        for (const auto& entry : lines) {
            std::time_t seconds = std::time_t(entry.realtimeUsec / 1000000);
            std::tm local{};
            localtime_r(&seconds, &local);
            char when[32];
            std::strftime(when, sizeof when, "%b %d %H:%M:%S", &local);
            std::cout << when << " " << (entry.identifier.empty() ? "-" : entry.identifier) << ": " << entry.message
                      << "\n";
        }
    }

    int jobs()
    {
        // Jobs are few (the daemon caps them): their list, then each one's properties.
        std::vector<Properties> jobs;
        for (const auto& job : bus_.manager().ListJobs()) {
            try {
                jobs.push_back(JobProxy(bus_.connection(), job.get<4>()).GetAll(bus::jobInterface));
            } catch (const sdbus::Error&) {
                // ended since the listing
            }
        }
        if (output_.json()) {
            Json out = Json::array();
            for (const auto& job : jobs) {
                auto id = property<std::uint32_t>(job, "Id");
                out.push_back({{"id", id},
                               {"type", property<std::string>(job, "Type")},
                               {"machine", property<std::string>(job, "Machine")},
                               {"state", property<std::string>(job, "State")},
                               {"progress", property<double>(job, "Progress", -1)},
                               {"stage", property<std::string>(job, "Stage")},
                               {"path", bus::jobPath(id)}});
            }
            output_.printJson(out);
            return ExitSuccess;
        }
        std::vector<std::vector<std::string>> rows{{"ID", "TYPE", "MACHINE", "STATE", "PROGRESS", "STAGE"}};
        for (const auto& job : jobs) {
            double progress = property<double>(job, "Progress", -1);
            auto stage = property<std::string>(job, "Stage");
            rows.push_back({std::to_string(property<std::uint32_t>(job, "Id")), property<std::string>(job, "Type"),
                            property<std::string>(job, "Machine"), property<std::string>(job, "State"),
                            progress < 0 ? "-" : std::to_string(int(progress * 100)) + "%",
                            stage.empty() ? "-" : stage});
        }
        output_.printTable(rows, "", "No jobs.");
        return ExitSuccess;
    }

    int distros()
    {
        auto distributions = bus_.manager().ListDistributions();
        if (output_.json()) {
            Json out = Json::array();
            for (const auto& d : distributions) {
                Json releases = Json::array();
                for (const auto& r : bus_.manager().ListDistributionReleases(d.get<0>()))
                    releases.push_back({{"release", r.get<0>()},
                                        {"name", r.get<1>()},
                                        {"architectures", r.get<2>()},
                                        {"default", r.get<3>()}});
                out.push_back({{"id", d.get<0>()},
                               {"name", d.get<1>()},
                               {"architectures", d.get<2>()},
                               {"url", d.get<3>()},
                               {"releases", releases}});
            }
            output_.printJson(out);
            return ExitSuccess;
        }
        // One row per release: the first two columns are what create-template's --distro and --release take.
        std::vector<std::vector<std::string>> rows{{"ID", "RELEASE", "NAME", "ARCHITECTURES", "DEFAULT"}};
        for (const auto& d : distributions)
            for (const auto& r : bus_.manager().ListDistributionReleases(d.get<0>()))
                rows.push_back({d.get<0>(), r.get<0>(), r.get<1>(), r.get<2>(), r.get<3>() ? "yes" : "-"});
        output_.printTable(rows, "", "No distributions.");
        return ExitSuccess;
    }

    int recipes()
    {
        auto recipes = bus_.manager().ListRecipes();
        if (output_.json()) {
            Json out = Json::array();
            for (const auto& recipe : recipes)
                out.push_back({{"id", recipe.get<0>()}, {"description", recipe.get<1>()}});
            output_.printJson(out);
            return ExitSuccess;
        }
        std::vector<std::vector<std::string>> rows{{"ID", "DESCRIPTION"}};
        for (const auto& recipe : recipes)
            rows.push_back({recipe.get<0>(), recipe.get<1>()});
        output_.printTable(rows, "", "No recipes.");
        return ExitSuccess;
    }

    int cancel()
    {
        std::uint32_t id = parseJobId(args_[0]);
        JobProxy job(bus_.connection(), bus::jobPath(id));
        try {
            job.Cancel();
        } catch (const sdbus::Error& error) {
            if (error.getName() == "org.freedesktop.DBus.Error.UnknownObject" ||
                error.getName() == "org.freedesktop.DBus.Error.UnknownMethod") {
                std::cerr << "No job " << id << " is running; 'bredmachine jobs' lists them.\n";
                return ExitFailure;
            }
            throw;
        }
        return ExitSuccess;
    }

    OptionMap archiveOptions() const
    {
        OptionMap options;
        if (line_.has("sha256"))
            options["sha256"] = sdbus::Variant{line_.value("sha256")};
        if (line_.has("verify"))
            options["verify"] = sdbus::Variant{line_.value("verify")};
        if (line_.has("force"))
            options["force"] = sdbus::Variant{true};
        return options;
    }

    int createTemplate()
    {
        std::string distro = line_.value("distro"), url = line_.value("url");
        auto options = archiveOptions();
        if (line_.has("arch"))
            options["arch"] = sdbus::Variant{line_.value("arch")};
        if (line_.has("release"))
            options["release"] = sdbus::Variant{line_.value("release")};
        auto call = bus_.mutatingCall("CreateTemplate");
        call << args_[0] << (url.empty() ? distro : url) << options;
        return followJob(bus_.send(call));
    }

    // create NAME --distro ID [--release R] [--arch A] [--convert RECIPE [--with PKG,...]] [network options]
    // [--start]: the template ID-RELEASE-ARCH when it is missing (kept for the next create), a clone of it,
    // converted, its network set, started; one display for the whole way.
    int create()
    {
        const std::string& name = args_[0];
        const std::string distro = line_.value("distro");
        if (machineClass(name))
            throw UsageError("A machine named " + name + " exists already; 'bredmachine list' shows the machines.");
        const std::string release = line_.has("release") ? line_.value("release") : defaultRelease(distro);
        const std::string architecture = line_.has("arch") ? line_.value("arch") : hostArchitecture();
        const std::string templateName = distro + "-" + release + "-" + architecture;
        requireMachineName(templateName);
        const auto templateClass = machineClass(templateName);
        if (templateClass && *templateClass != "template") {
            std::cerr << templateName << ", the name of " << distro << " " << release << "'s template, is taken by a "
                      << *templateClass << "; 'bredmachine rename' frees it.\n";
            return ExitFailure;
        }
        const bool convert = line_.has("convert"), start = line_.has("start");
        const std::size_t count = (templateClass ? 0 : 1) + 1 + (convert ? 1 : 0) + (start ? 1 : 0);
        std::size_t number = 0;
        auto step = [&](const std::string& stepName, const std::string& what, const sdbus::MethodCall& call) {
            ProgressState::Step current{++number, count, stepName};
            if (!line_.global.quiet)
                std::cerr << "[" << number << "/" << count << "] " << what << "\n";
            std::uint32_t id = 0;
            sdbus::ObjectPath path;
            try {
                bus_.send(call) >> id >> path;
            } catch (const sdbus::Error& error) {
                // Refused before its job began: said here, so that what the steps before made is said next.
                std::cerr << "Failed: " << (error.getMessage().empty() ? error.getName() : error.getMessage()) << "\n";
                return exitStatusForError(error);
            }
            return bus_.waitForJob(id, path, BusClient::JobKind::Operation, current);
        };
        if (!templateClass) {
            OptionMap options{{"release", sdbus::Variant{release}}, {"arch", sdbus::Variant{architecture}}};
            if (line_.has("verify"))
                options["verify"] = sdbus::Variant{line_.value("verify")};
            auto call = bus_.mutatingCall("CreateTemplate");
            call << templateName << distro << options;
            if (int status = step("template",
                                  "Creating the template " + templateName + " from " + distro + " " + release +
                                      " (kept for the next create)",
                                  call);
                status != ExitSuccess)
                return status;
        }
        {
            auto call = bus_.mutatingCall("Clone");
            call << templateName << name << OptionMap{};
            if (int status = step("clone", "Cloning " + templateName + " into " + name, call); status != ExitSuccess)
                return status;
        }
        // From here on the container exists: a failure leaves it, and says how to go on.
        auto leftAsItIs = [&](const std::string& next) {
            std::cerr << name << " was created and is left as it is: " << next << ", or 'bredmachine remove " << name
                      << "' removes it.\n";
        };
        if (convert) {
            OptionMap options;
            if (auto extras = commaList(line_.values("with")); !extras.empty())
                options["extras"] = sdbus::Variant{extras};
            auto call = bus_.mutatingCall("Convert");
            call << name << line_.value("convert") << options;
            if (int status = step("convert", "Converting " + name + " with " + line_.value("convert"), call);
                status != ExitSuccess) {
                leftAsItIs("'bredmachine convert " + name + " --recipe=" + line_.value("convert") + "' tries again");
                return status;
            }
        }
        if (auto settings = networkSettings()) {
            try {
                auto call = bus_.mutatingCall("SetNetwork");
                call << name << *settings;
                bus_.send(call);
            } catch (const sdbus::Error& error) {
                std::cerr << "Failed: " << error.getMessage() << "\n";
                leftAsItIs("'bredmachine network " + name + "' sets its network");
                return exitStatusForError(error);
            }
        }
        if (start) {
            auto call = bus_.mutatingCall("Start");
            call << name << OptionMap{};
            if (int status = step("start", "Starting " + name, call); status != ExitSuccess) {
                leftAsItIs("'bredmachine start " + name + "' tries again");
                return status;
            }
        }
        return ExitSuccess;
    }

    // The machine's class, or nothing when there is no such machine.
    std::optional<std::string> machineClass(const std::string& name)
    {
        try {
            bus_.manager().GetMachine(name);
        } catch (const sdbus::Error& error) {
            if (errorCodeFromDbusName(error.getName()) == ErrorCode::NoSuchMachine)
                return std::nullopt;
            throw;
        }
        return property<std::string>(machineProperties(name), "Class");
    }

    // The release of the distribution the catalog makes by default.
    std::string defaultRelease(const std::string& distro)
    {
        for (const auto& release : bus_.manager().ListDistributionReleases(distro))
            if (release.get<3>())
                return release.get<0>();
        throw std::runtime_error("the catalog names no default release of " + distro + "; --release picks one");
    }

    int importTemplate()
    {
        // We open the file, so a file only the caller can read works too.
        UniqueFd file(args_[1] == "-" ? dup(STDIN_FILENO) : open(args_[1].c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
        if (!file) {
            std::cerr << "Cannot open " << args_[1] << ": " << std::strerror(errno) << "\n";
            return ExitFailure;
        }
        auto options = archiveOptions();
        if (line_.has("container"))
            options["class"] = sdbus::Variant{std::string("container")};
        auto call = bus_.mutatingCall("ImportTemplate");
        call << args_[0] << sdbus::UnixFd(file.get()) << options;
        return followJob(bus_.send(call));
    }

    int exportMachine()
    {
        const std::string& target = args_[1];
        const std::string compression = exportCompression(target, line_.value("compression"));
        if (target == "-" && isatty(STDOUT_FILENO))
            throw UsageError("Standard output is a terminal; give a FILE, or pipe the archive on.");
        // We create the file, as the caller: the daemon writes only to the descriptor.
        UniqueFd file(target == "-" ? dup(STDOUT_FILENO)
                                    : open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644));
        if (!file) {
            std::cerr << "Cannot create " << target << ": " << std::strerror(errno)
                      << (errno == EEXIST ? " (remove it first, or choose another name)" : "") << "\n";
            return ExitFailure;
        }
        // A partial archive is worse than none: what we created goes unless the export is done.
        struct PartialFile {
            std::string path;
            ~PartialFile()
            {
                if (!path.empty())
                    unlink(path.c_str());
            }
        } partial{target == "-" ? "" : target};
        OptionMap options{{"compression", sdbus::Variant{compression}}};
        auto call = bus_.mutatingCall("ExportMachine");
        call << args_[0] << sdbus::UnixFd(file.get()) << options;
        auto reply = bus_.send(call);
        file.reset();
        const int status = followJob(std::move(reply));
        if (status == ExitSuccess)
            partial.path.clear();
        return status;
    }

    int clone()
    {
        OptionMap options;
        if (line_.has("template"))
            options["template"] = sdbus::Variant{true};
        if (line_.has("settings"))
            options["settings"] = sdbus::Variant{true};
        auto call = bus_.mutatingCall("Clone");
        call << args_[0] << args_[1] << options;
        return followJob(bus_.send(call));
    }

    int convert()
    {
        OptionMap options;
        if (auto extras = commaList(line_.values("with")); !extras.empty())
            options["extras"] = sdbus::Variant{extras};
        auto recipe = line_.has("recipe") ? line_.value("recipe") : std::string("bredos");
        auto call = bus_.mutatingCall("Convert");
        call << args_[0] << recipe << options;
        return followJob(bus_.send(call));
    }

    int start()
    {
        auto call = bus_.mutatingCall("Start");
        call << args_[0] << OptionMap{};
        return followJob(bus_.send(call));
    }

    // stop, poweroff (the same) and terminate (stop --force).
    int stop()
    {
        OptionMap options;
        if (line_.has("force") || std::string(line_.verb->name) == "terminate")
            options["force"] = sdbus::Variant{true};
        auto call = bus_.mutatingCall("Stop");
        call << args_[0] << options;
        return followJob(bus_.send(call));
    }

    int reboot()
    {
        auto call = bus_.mutatingCall("Reboot");
        call << args_[0];
        bus_.send(call);
        return ExitSuccess;
    }

    int kill()
    {
        std::string whom = line_.has("kill-whom") ? line_.value("kill-whom") : "all";
        int signal = line_.has("signal") ? parseSignal(line_.value("signal")) : SIGTERM;
        auto call = bus_.mutatingCall("Kill");
        call << args_[0] << whom << std::int32_t(signal);
        bus_.send(call);
        return ExitSuccess;
    }

    int enable() { return simpleCall("Enable"); }
    int disable() { return simpleCall("Disable"); }

    int simpleCall(const std::string& method)
    {
        auto call = bus_.mutatingCall(method);
        call << args_[0];
        bus_.send(call);
        return ExitSuccess;
    }

    int bind()
    {
        // SOURCE[:DEST], as systemd-nspawn --bind= takes it.
        auto colon = args_[1].find(':');
        std::string source = args_[1].substr(0, colon);
        std::string destination = colon == std::string::npos ? "" : args_[1].substr(colon + 1);
        OptionMap options;
        if (line_.has("read-only"))
            options["read_only"] = sdbus::Variant{true};
        if (line_.has("mkdir"))
            options["mkdir"] = sdbus::Variant{true};
        auto call = bus_.mutatingCall("Bind");
        call << args_[0] << source << destination << options;
        bus_.send(call);
        return ExitSuccess;
    }

    int unbind()
    {
        auto call = bus_.mutatingCall("Unbind");
        call << args_[0] << args_[1];
        bus_.send(call);
        return ExitSuccess;
    }

    int network()
    {
        auto settings = networkSettings(); // checkCommandLine made sure of a mode
        auto call = bus_.mutatingCall("SetNetwork");
        call << args_[0] << *settings;
        bus_.send(call);
        return ExitSuccess;
    }

    // SetNetwork's settings from network's options (create takes them too); none without a mode.
    std::optional<OptionMap> networkSettings()
    {
        std::vector<std::string> modes;
        for (const char* mode : {"host", "veth", "bridge"})
            if (line_.has(mode))
                modes.push_back(mode);
        if (modes.empty())
            return std::nullopt;
        OptionMap settings{{"mode", sdbus::Variant{modes[0]}}};
        for (const char* key : {"bridge", "address", "gateway"})
            if (line_.has(key))
                settings[key] = sdbus::Variant{line_.value(key)};
        if (line_.has("dns"))
            settings["dns"] = sdbus::Variant{line_.values("dns")};
        if (line_.has("dhcp"))
            settings["dhcp"] = sdbus::Variant{true};
        return settings;
    }

    int addUser()
    {
        OptionMap options;
        if (line_.value("password-hash") == "-") {
            // From stdin, so the hash is on no command line, not even ours.
            std::string hash;
            if (!std::getline(std::cin, hash) || hash.empty())
                throw UsageError("--password-hash=- reads the hash from standard input, which gave none.");
            options["password_hash"] = sdbus::Variant{hash};
        } else if (line_.has("password-hash")) {
            options["password_hash"] = sdbus::Variant{line_.value("password-hash")};
        }
        if (auto groups = commaList(line_.values("groups")); !groups.empty())
            options["groups"] = sdbus::Variant{groups};
        if (line_.has("shell"))
            options["shell"] = sdbus::Variant{line_.value("shell")};
        auto call = bus_.mutatingCall("AddUser");
        call << args_[0] << args_[1] << options;
        return followJob(bus_.send(call));
    }

    int limit()
    {
        OptionMap limits;
        for (const auto& [option, value] : limitsOfCommandLine(line_))
            limits[option->key] = option->kind == LimitOption::Kind::Percent
                                      ? sdbus::Variant{static_cast<std::uint32_t>(value)}
                                      : sdbus::Variant{value};
        auto call = bus_.mutatingCall("SetLimits");
        call << args_[0] << limits;
        bus_.send(call);
        return ExitSuccess;
    }

    // The running unit's use of memory, tasks and CPU, as systemd counts them; unknown when it cannot tell.
    UnitUsage unitUsage(const std::string& unit)
    {
        UnitUsage usage;
        if (unit.empty())
            return usage;
        try {
            const sdbus::ObjectPath unitPath = systemdUnitPath(unit);
            auto unitProxy =
                sdbus::createProxy(bus_.connection(), dbus::ServiceName{"org.freedesktop.systemd1"}, unitPath);
            auto counter = [&](const char* name) -> std::optional<std::uint64_t> {
                sdbus::Variant value;
                unitProxy->callMethod("Get")
                    .onInterface("org.freedesktop.DBus.Properties")
                    .withArguments(std::string("org.freedesktop.systemd1.Service"), std::string(name))
                    .storeResultsTo(value);
                std::uint64_t number = value.get<std::uint64_t>();
                // UINT64_MAX: systemd does not account it.
                return number == UINT64_MAX ? std::nullopt : std::optional<std::uint64_t>(number);
            };
            usage.memoryBytes = counter("MemoryCurrent");
            usage.tasks = counter("TasksCurrent");
            usage.cpuNanoseconds = counter("CPUUsageNSec");
        } catch (const sdbus::Error&) {
            // Stopped meanwhile: no use to show.
        }
        return usage;
    }

    enum class Terminal { IfOnOne, Always };

    // run NAME [--] CMD...
    int runInside()
    {
        OptionMap options;
        if (line_.has("user"))
            options["user"] = sdbus::Variant{line_.value("user")};
        if (line_.has("env"))
            options["env"] = sdbus::Variant{line_.values("env")};
        if (line_.has("cwd"))
            options["cwd"] = sdbus::Variant{line_.value("cwd")};
        return runWithOurStdio(args_[0], Arguments(args_.begin() + 1, args_.end()), options, "",
                               line_.has("pty") ? Terminal::Always : Terminal::IfOnOne);
    }

    // shell [USER@]NAME [CMD...]: USER's login shell, or CMD in USER's home.
    int shell()
    {
        auto [user, machine] = splitUserAtMachine(args_[0]);
        Arguments command{"/bin/sh", "-c"};
        if (args_.size() == 1) {
            command.push_back("cd \"$HOME\" 2>/dev/null; exec \"${SHELL:-/bin/sh}\" -l");
        } else {
            command.push_back("cd \"$HOME\" 2>/dev/null; exec \"$@\"");
            command.push_back("sh");
            command.insert(command.end(), args_.begin() + 1, args_.end());
        }
        auto environment = line_.values("env");
        if (const char* term = getenv("TERM"))
            environment.insert(environment.begin(), std::string("TERM=") + term);
        OptionMap options{{"user", sdbus::Variant{user}}};
        if (!environment.empty())
            options["env"] = sdbus::Variant{environment};
        std::string banner = args_.size() == 1 && !line_.global.quiet
                                 ? "Connected to " + machine + " as " + user + "; exit the shell to leave.\n"
                                 : "";
        return runWithOurStdio(machine, command, options, banner, Terminal::IfOnOne);
    }

    int login()
    {
        if (!isatty(STDIN_FILENO))
            throw UsageError("login needs a terminal to ask for a user and password on; 'bredmachine shell' and "
                             "'run' take their input from anywhere.");
        if (property<std::string>(machineProperties(args_[0]), "State") != "running") {
            std::cerr << args_[0] << " is not running; 'bredmachine start " << args_[0] << "' starts it.\n";
            return ExitFailure;
        }
        const std::string& machine = args_[0];
        auto call = bus_.mutatingCall("OpenLogin");
        call << machine;
        auto reply = bus_.send(call);
        sdbus::UnixFd pty;
        std::string ptyPath;
        reply >> pty >> ptyPath;
        sessionThrough(machine, UniqueFd(pty.release()));
        if (!line_.global.quiet)
            std::cerr << "\nConnection to machine " << machine << " terminated.\n";
        return ExitSuccess;
    }

    // logs NAME [-f] [-n N] [--since TIME]: the host's log of the machine's unit, then the machine's own journal.
    // Both are read by journalctl: the host's with this user's rights, the machine's inside it, so the daemon never
    // parses journal files that root in the container wrote.
    int logs()
    {
        const std::string& machine = args_[0];
        const bool follow = line_.has("follow");
        const auto properties = machineProperties(machine);
        if (property<std::string>(properties, "Class") == "template") {
            std::cerr << machine << " is a template: templates never run, so they have no log.\n";
            return ExitFailure;
        }
        if (const auto state = property<std::string>(properties, "State");
            follow && state != "running" && state != "starting") {
            std::cerr << machine << " is " << state << ": there is nothing to follow. 'bredmachine logs " << machine
                      << "' shows its log.\n";
            return ExitFailure;
        }
        Arguments filters{"--no-pager"};
        if (line_.has("lines"))
            filters.push_back("--lines=" + line_.value("lines"));
        if (line_.has("since"))
            filters.push_back("--since=" + line_.value("since"));
        if (follow)
            filters.push_back("--follow");
        // A machine started by 'machinectl start' runs as systemd-nspawn@NAME.service.
        Arguments hostReader{"journalctl", "--unit=bred-machine-" + machine + ".service",
                             "--unit=systemd-nspawn@" + machine + ".service"};
        hostReader.insert(hostReader.end(), filters.begin(), filters.end());
        ChildProcess hostLog(hostReader);
        if (!follow)
            hostLog.wait();
        Arguments containerReader{"journalctl"};
        containerReader.insert(containerReader.end(), filters.begin(), filters.end());
        return runWithOurStdio(machine, containerReader, {}, "", Terminal::IfOnOne);
    }

    // Relays the user's terminal through a login's pty until ^]^]^] or the container stops.
    void sessionThrough(const std::string& machine, UniqueFd pty)
    {
        TerminalRelay relay(std::move(pty));
        // The session lasts while the container runs: a logout only brings the next prompt.
        bool stopped = false;
        auto stateWatch = watchMachineProperty(
            machine, "State", [&](const sdbus::Variant& state) { stopped = state.get<std::string>() != "running"; });
        if (!line_.global.quiet)
            std::cerr << "Connected to machine " << machine << ". Press ^] three times within 1s to exit session.\n";
        relay.start(bus_.loop());
        bus_.loop().runUntil([&] { return relay.escaped() || stopped; });
        relay.finish(bus_.loop());
    }

    // Runs the command with our stdin, stdout and stderr. Those on a terminal
    // (all of them with --pty) go through a pty of our own, relayed: the
    // container never holds our terminal, so root inside can neither push keys
    // into it (TIOCSTI) nor keep it. `banner` is printed once connected.
    int runWithOurStdio(const std::string& machine, const Arguments& command, const OptionMap& options,
                        const std::string& banner, Terminal terminal)
    {
        bool onTerminal = isatty(STDIN_FILENO) || isatty(STDOUT_FILENO) || isatty(STDERR_FILENO);
        if (terminal == Terminal::IfOnOne && !onTerminal)
            return runCommand(machine, command, options, {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}, nullptr);
        const bool everyStream = terminal == Terminal::Always;
        TerminalRelay relay(everyStream);
        auto relayed = [&](int fd) { return everyStream || isatty(fd) ? relay.terminalFd() : fd; };
        std::cerr << banner;
        return runCommand(machine, command, options,
                          {relayed(STDIN_FILENO), relayed(STDOUT_FILENO), relayed(STDERR_FILENO)}, &relay);
    }

    int runCommand(const std::string& machine, const Arguments& command, const OptionMap& options,
                   std::array<int, 3> fds, TerminalRelay* relay)
    {
        auto call = bus_.mutatingCall("Run");
        call << machine << command << sdbus::UnixFd(fds[0]) << sdbus::UnixFd(fds[1]) << sdbus::UnixFd(fds[2])
             << options;
        auto reply = bus_.send(call);
        std::uint32_t id = 0;
        sdbus::ObjectPath path;
        reply >> id >> path;
        if (relay)
            relay->start(bus_.loop());
        int status = bus_.waitForJob(id, path, BusClient::JobKind::Command);
        if (relay)
            relay->finish(bus_.loop());
        return status;
    }

    int remove()
    {
        auto call = bus_.mutatingCall("Remove");
        call << args_[0];
        return followJob(bus_.send(call));
    }

    int rename()
    {
        auto call = bus_.mutatingCall("Rename");
        call << args_[0] << args_[1];
        bus_.send(call);
        return ExitSuccess;
    }

    // copy-to NAME HOST-PATH [PATH], copy-from NAME PATH [HOST-PATH]: the other path defaults to the one given.
    int copy()
    {
        const bool into = std::string(line_.verb->name) == "copy-to";
        const std::string cwd = std::filesystem::current_path().string();
        const bool both = args_.size() > 2;
        // The host path from the current directory; the path inside from the machine's root, or, left out of
        // copy-to, the host path.
        const std::string hostPath = absolutePath(into || !both ? args_[1] : args_[2], cwd);
        const std::string path = !into ? absolutePath(args_[1], "/") : both ? absolutePath(args_[2], "/") : hostPath;
        OptionMap options;
        if (line_.has("replace"))
            options["replace"] = sdbus::Variant{true};
        auto call = bus_.mutatingCall(into ? "CopyTo" : "CopyFrom");
        if (into)
            call << args_[0] << hostPath << path << options;
        else
            call << args_[0] << path << hostPath << options;
        return followJob(bus_.send(call));
    }

    // A job verb's reply: wait for the job, or with --no-block print its path and return.
    int followJob(sdbus::MethodReply reply)
    {
        std::uint32_t id = 0;
        sdbus::ObjectPath path;
        reply >> id >> path;
        if (line_.has("no-block")) {
            std::cout << path << "\n";
            return ExitSuccess;
        }
        return bus_.waitForJob(id, path);
    }

    BusClient& bus_;
    const CommandLine& line_;
    const Arguments& args_;
    const Output& output_;
};

} // namespace

void checkCommandLine(const CommandLine& line)
{
    const std::string verb = line.verb->name;
    const auto& arguments = line.arguments;
    if (verb == "cancel") {
        parseJobId(arguments[0]);
    } else if (verb == "shell") {
        splitUserAtMachine(arguments[0]);
    } else if (verb == "status" || verb == "clone" || verb == "rename") {
        for (const auto& name : arguments)
            requireMachineName(name);
    } else if (!arguments.empty()) {
        requireMachineName(arguments[0]);
    }
    if (verb == "limit")
        limitsOfCommandLine(line);
    if (verb == "logs" && line.has("lines"))
        parseLineCount(line.value("lines"));
    if (verb == "logs" && line.has("since") && line.value("since").empty())
        throw UsageError("--since needs a time, as journalctl takes it: '2026-12-01 10:00', -1h, today.");
    if (verb == "export") {
        exportCompression(arguments[1], line.value("compression"));
        if (arguments[1] == "-" && line.has("no-block"))
            throw UsageError(
                "--no-block prints the job's path on standard output, where the archive goes; give a FILE.");
    }
    if (verb == "network" || verb == "create") {
        const int modes = int(line.has("host")) + int(line.has("veth")) + int(line.has("bridge"));
        if (modes > 1)
            throw UsageError("--host, --veth and --bridge=BR are one choice: give one.");
        if (modes == 0 &&
            (verb == "network" || line.has("address") || line.has("gateway") || line.has("dns") || line.has("dhcp")))
            throw UsageError(verb + " needs one of --host, --veth or --bridge=BR for its network.");
    }
    if (verb == "create" && !line.has("distro"))
        throw UsageError("create needs --distro=ID; 'bredmachine distros' lists them.");
    if (verb == "create" && line.has("with") && !line.has("convert"))
        throw UsageError("--with names extra packages of a conversion: it goes with --convert=RECIPE.");
    if (verb == "create-template") {
        if (line.has("distro") == line.has("url"))
            throw UsageError("create-template needs exactly one of --distro=ID or --url=URL.");
        if (line.has("url") && line.has("arch"))
            throw UsageError("--arch goes with --distro; a URL names one archive.");
        if (line.has("url") && line.has("release"))
            throw UsageError("--release goes with --distro; a URL names one archive.");
    }
    if (verb == "kill") {
        if (line.has("signal"))
            parseSignal(line.value("signal"));
        if (auto whom = line.value("kill-whom"); line.has("kill-whom") && whom != "all" && whom != "leader")
            throw UsageError("--kill-whom takes all or leader, not '" + whom + "'.");
    }
}

int runVerb(BusClient& bus, const CommandLine& line, const Output& output)
{
    return Verbs(bus, line, output).run(line.verb->name);
}

} // namespace bred::client
