// bredmachine: the command-line client of bred-machined.
#include "build-config.h"
#include "bus-client.h"
#include "format.h"
#include "journal-tail.h"
#include "json.h"
#include "names.h"
#include "polkit-agent.h"
#include "terminal-relay.h"
#include "unique-fd.h"

#include <exception>
#include <cerrno>
#include <cstring>
#include <algorithm>
#include <arpa/inet.h>
#include <ctime>
#include <exception>
#include <fcntl.h>
#include <unistd.h>
#include <functional>
#include <getopt.h>
#include <iostream>
#include <sstream>

namespace bred::client {
namespace {

using Arguments = std::vector<std::string>;

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

const char* helpText = R"(Usage: bredmachine [OPTIONS] VERB [ARGUMENTS...]

Manage systemd-nspawn machines (templates and containers) through bred-machined.

Verbs:
  list                      List machines
  status NAME               Show a machine's state and properties
  distros                   List the distributions templates can be created from
  create-template NAME (--distro ID [--arch ARCH] | --url URL [--sha256 HEX])
                            Download, verify and install a template
  import NAME FILE          Install a template from a local archive ('-': stdin)
  recipes                   List the conversion recipes
  convert NAME [--recipe ID] [--with PKG,...]
                            Convert a container with a recipe (default: bredos)
  clone SOURCE NAME [--template] [--settings]
                            Copy a machine into a new container (or template)
  start NAME                Boot a container; waits until it is ready
  stop NAME [--force]       Power a container off cleanly (--force: kill it)
  enable NAME               Start a container at boot (through machines.target)
  disable NAME              Do not start a container at boot
  run NAME [--user U] [--env NAME=VALUE] [--cwd DIR] -- CMD [ARG...]
                            Run a command inside (running or stopped) with this
                            terminal's input and output; exits with its status
  shell NAME [USER]         An interactive login shell inside (default: root)
  add-user NAME USER [--password-hash HASH] [--groups G,...] [--shell PATH]
                            Create a login user inside the container
  bind NAME SOURCE[:DEST] [--read-only] [--mkdir]
                            Bind a host folder into a container (now, if it runs)
  unbind NAME DEST          Drop a bind from the container's settings
  network NAME (--host | --veth | --bridge BR) [--address CIDR --gateway IP --dns IP... | --dhcp]
                            Set up the container's network, both sides
  jobs                      List running jobs
  cancel ID                 Cancel a job
  remove NAME               Delete a stopped machine and its settings
  rename NAME NEW           Rename a stopped machine and its settings

Options:
      --distro=ID           create-template: a distribution of 'distros'
      --arch=ARCH           create-template: its architecture (default: this host's)
      --url=URL             create-template: an http(s) URL of a rootfs archive
      --sha256=HEX          create-template, import: the archive's expected SHA-256
      --verify=MODE         no, checksum or signature (default: the strongest available)
      --force               create-template, import: replace an existing template;
                            stop: kill the container instead of powering it off
      --template            clone: make the copy a read-only template
      --settings            clone: copy the machine's binds and network settings too
      --read-only, --mkdir  bind: read-only; create the source folder if missing
      --host, --veth, --bridge=BR, --address=CIDR, --gateway=IP, --dns=IP, --dhcp
                            network: the host side and host0 inside
      --user=U, --env=NAME=VALUE, --cwd=DIR
                            run: the user, environment and directory of the command
      --password-hash=HASH, --groups=G,..., --shell=PATH
                            add-user: a crypt(3) hash ('openssl passwd -6';
                            '-' reads it from stdin), supplementary groups, login shell
      --recipe=ID, --with=PKG,...
                            convert: the recipe, and extra packages to install
      --json                Machine-readable output on listing verbs
      --no-progress         No progress bar for job verbs
      --no-ask-password     Do not ask for a password when authorization needs one
  -H, --host=[USER@]HOST    Operate on a remote host's daemon over SSH
      --version             Show the version
  -h, --help                Show this help

Exit status: 0 success, 1 the operation failed, 2 bad usage, 4 not authorized;
'run' and 'shell' exit with the command's own status.
)";

std::string variantToJson(const sdbus::Variant& value)
{
    std::string type = value.peekValueType();
    if (type == "s" || type == "o")
        return json::quote(value.get<std::string>());
    if (type == "b")
        return value.get<bool>() ? "true" : "false";
    if (type == "t")
        return std::to_string(value.get<std::uint64_t>());
    if (type == "u")
        return std::to_string(value.get<std::uint32_t>());
    if (type == "i")
        return std::to_string(value.get<std::int32_t>());
    if (type == "d") {
        std::ostringstream number;
        number << value.get<double>();
        return number.str();
    }
    if (type == "as") {
        std::string out = "[";
        for (const auto& item : value.get<std::vector<std::string>>())
            out += (out.size() > 1 ? "," : "") + json::quote(item);
        return out + "]";
    }
    if (type == "a{ss}") {
        std::string out = "{";
        for (const auto& [key, item] : value.get<std::map<std::string, std::string>>())
            out += (out.size() > 1 ? "," : "") + json::quote(key) + ":" + json::quote(item);
        return out + "}";
    }
    if (type == "a{sv}") {
        std::string out = "{";
        for (const auto& [key, item] : value.get<std::map<std::string, sdbus::Variant>>())
            out += (out.size() > 1 ? "," : "") + json::quote(key) + ":" + variantToJson(item);
        return out + "}";
    }
    if (type == "a(ssb)") {
        std::string out = "[";
        for (const auto& bind : value.get<std::vector<sdbus::Struct<std::string, std::string, bool>>>())
            out += std::string(out.size() > 1 ? "," : "") + "{\"source\":" + json::quote(bind.get<0>()) +
                   ",\"destination\":" + json::quote(bind.get<1>()) +
                   ",\"read_only\":" + (bind.get<2>() ? "true" : "false") + "}";
        return out + "]";
    }
    return "null";
}

template <typename T>
T property(const Properties& properties, const std::string& name, T fallback = {})
{
    auto it = properties.find(dbus::PropertyName{name});
    return it == properties.end() ? fallback : it->second.get<T>();
}

std::string osName(const Properties& machine)
{
    auto osRelease = property<std::map<std::string, std::string>>(machine, "OSRelease");
    for (const char* key : {"PRETTY_NAME", "NAME", "ID"})
        if (auto it = osRelease.find(key); it != osRelease.end() && !it->second.empty())
            return it->second;
    return "-";
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

void requireMachineName(const std::string& name)
{
    if (!isValidMachineName(name))
        throw UsageError("'" + name + "' is not a valid machine name (1 to 64 letters, digits, '-' and '.').");
}

struct VerbOptions {
    std::string distro, arch, url, sha256, verify;
    bool force = false;
    bool asTemplate = false;                           // clone --template
    bool copySettings = false;                         // clone --settings
    bool readOnly = false, mkdir = false;              // bind
    std::string networkMode, bridge, address, gateway; // network
    std::vector<std::string> dns;
    bool dhcp = false;
    std::string user, cwd;                // run
    std::vector<std::string> environment; // run
    std::string passwordHash, shell;      // add-user
    std::vector<std::string> groups;      // add-user
    std::string recipe;                   // convert
    std::vector<std::string> extras;      // convert --with

    std::map<std::string, sdbus::Variant> toDbus(bool withArch) const
    {
        std::map<std::string, sdbus::Variant> dbus;
        if (withArch && !arch.empty())
            dbus["arch"] = sdbus::Variant{arch};
        if (!sha256.empty())
            dbus["sha256"] = sdbus::Variant{sha256};
        if (!verify.empty())
            dbus["verify"] = sdbus::Variant{verify};
        if (force)
            dbus["force"] = sdbus::Variant{true};
        return dbus;
    }
};

class Verbs {
public:
    Verbs(BusClient& bus, const Options& options, const VerbOptions& verbOptions) :
        bus_(bus),
        options_(options),
        verbOptions_(verbOptions)
    {
    }

    int distros(const Arguments&)
    {
        auto distributions = bus_.manager().ListDistributions();
        std::vector<std::vector<std::string>> rows{{"ID", "NAME", "ARCHITECTURES", "SOURCE"}};
        std::string jsonOut = "[";
        for (const auto& d : distributions) {
            rows.push_back({d.get<0>(), d.get<1>(), d.get<2>(), d.get<3>()});
            jsonOut += std::string(jsonOut.size() > 1 ? "," : "") + "{\"id\":" + json::quote(d.get<0>()) +
                       ",\"name\":" + json::quote(d.get<1>()) + ",\"architectures\":" + json::quote(d.get<2>()) +
                       ",\"url\":" + json::quote(d.get<3>()) + "}";
        }
        if (options_.json)
            std::cout << jsonOut << "]\n";
        else
            std::cout << formatTable(rows);
        return ExitSuccess;
    }

    int createTemplate(const Arguments& args)
    {
        requireMachineName(args[0]);
        const auto& t = verbOptions_;
        if (t.distro.empty() == t.url.empty())
            throw UsageError("create-template needs exactly one of --distro ID or --url URL.");
        if (!t.url.empty() && !t.arch.empty())
            throw UsageError("--arch goes with --distro; a URL names one archive.");
        auto call = bus_.mutatingCall("CreateTemplate");
        call << args[0] << (t.url.empty() ? t.distro : t.url) << t.toDbus(true);
        return waitForJobReply(bus_.send(call));
    }

    int clone(const Arguments& args)
    {
        requireMachineName(args[0]);
        requireMachineName(args[1]);
        auto call = bus_.mutatingCall("Clone");
        std::map<std::string, sdbus::Variant> options;
        if (verbOptions_.asTemplate)
            options["template"] = sdbus::Variant{true};
        if (verbOptions_.copySettings)
            options["settings"] = sdbus::Variant{true};
        call << args[0] << args[1] << options;
        return waitForJobReply(bus_.send(call));
    }

    int bind(const Arguments& args)
    {
        requireMachineName(args[0]);
        // SOURCE[:DEST], as systemd-nspawn --bind= takes it.
        auto colon = args[1].find(':');
        std::string source = args[1].substr(0, colon);
        std::string destination = colon == std::string::npos ? "" : args[1].substr(colon + 1);
        std::map<std::string, sdbus::Variant> options;
        if (verbOptions_.readOnly)
            options["read_only"] = sdbus::Variant{true};
        if (verbOptions_.mkdir)
            options["mkdir"] = sdbus::Variant{true};
        auto call = bus_.mutatingCall("Bind");
        call << args[0] << source << destination << options;
        bus_.send(call);
        return ExitSuccess;
    }

    int unbind(const Arguments& args)
    {
        requireMachineName(args[0]);
        auto call = bus_.mutatingCall("Unbind");
        call << args[0] << args[1];
        bus_.send(call);
        return ExitSuccess;
    }

    int network(const Arguments& args)
    {
        requireMachineName(args[0]);
        const auto& t = verbOptions_;
        if (t.networkMode.empty())
            throw UsageError("network needs one of --host, --veth or --bridge BR.");
        std::map<std::string, sdbus::Variant> settings{{"mode", sdbus::Variant{t.networkMode}}};
        if (!t.bridge.empty())
            settings["bridge"] = sdbus::Variant{t.bridge};
        if (!t.address.empty())
            settings["address"] = sdbus::Variant{t.address};
        if (!t.gateway.empty())
            settings["gateway"] = sdbus::Variant{t.gateway};
        if (!t.dns.empty())
            settings["dns"] = sdbus::Variant{t.dns};
        if (t.dhcp)
            settings["dhcp"] = sdbus::Variant{true};
        auto call = bus_.mutatingCall("SetNetwork");
        call << args[0] << settings;
        bus_.send(call);
        return ExitSuccess;
    }

    int start(const Arguments& args)
    {
        requireMachineName(args[0]);
        auto call = bus_.mutatingCall("Start");
        call << args[0] << std::map<std::string, sdbus::Variant>{};
        return waitForJobReply(bus_.send(call));
    }

    int stop(const Arguments& args)
    {
        requireMachineName(args[0]);
        auto call = bus_.mutatingCall("Stop");
        std::map<std::string, sdbus::Variant> options;
        if (verbOptions_.force)
            options["force"] = sdbus::Variant{true};
        call << args[0] << options;
        return waitForJobReply(bus_.send(call));
    }

    int recipes(const Arguments&)
    {
        auto recipes = bus_.manager().ListRecipes();
        std::vector<std::vector<std::string>> rows{{"ID", "DESCRIPTION"}};
        std::string jsonOut = "[";
        for (const auto& recipe : recipes) {
            rows.push_back({recipe.get<0>(), recipe.get<1>()});
            jsonOut += std::string(jsonOut.size() > 1 ? "," : "") + "{\"id\":" + json::quote(recipe.get<0>()) +
                       ",\"description\":" + json::quote(recipe.get<1>()) + "}";
        }
        if (options_.json)
            std::cout << jsonOut << "]\n";
        else if (recipes.empty())
            std::cout << "No recipes.\n";
        else
            std::cout << formatTable(rows);
        return ExitSuccess;
    }

    int convert(const Arguments& args)
    {
        requireMachineName(args[0]);
        std::map<std::string, sdbus::Variant> options;
        if (!verbOptions_.extras.empty())
            options["extras"] = sdbus::Variant{verbOptions_.extras};
        auto call = bus_.mutatingCall("Convert");
        call << args[0] << (verbOptions_.recipe.empty() ? std::string("bredos") : verbOptions_.recipe) << options;
        return waitForJobReply(bus_.send(call));
    }

    int enable(const Arguments& args)
    {
        requireMachineName(args[0]);
        auto call = bus_.mutatingCall("Enable");
        call << args[0];
        bus_.send(call);
        return ExitSuccess;
    }

    int disable(const Arguments& args)
    {
        requireMachineName(args[0]);
        auto call = bus_.mutatingCall("Disable");
        call << args[0];
        bus_.send(call);
        return ExitSuccess;
    }

    int addUser(const Arguments& args)
    {
        requireMachineName(args[0]);
        const auto& v = verbOptions_;
        std::map<std::string, sdbus::Variant> options;
        if (v.passwordHash == "-") {
            // From stdin, so the hash is on no command line, not even ours.
            std::string hash;
            if (!std::getline(std::cin, hash) || hash.empty())
                throw UsageError("--password-hash - reads the hash from standard input, which gave none.");
            options["password_hash"] = sdbus::Variant{hash};
        } else if (!v.passwordHash.empty()) {
            options["password_hash"] = sdbus::Variant{v.passwordHash};
        }
        if (!v.groups.empty())
            options["groups"] = sdbus::Variant{v.groups};
        if (!v.shell.empty())
            options["shell"] = sdbus::Variant{v.shell};
        auto call = bus_.mutatingCall("AddUser");
        call << args[0] << args[1] << options;
        return waitForJobReply(bus_.send(call));
    }

    // run NAME -- CMD...: our own stdin/stdout/stderr go to the command, a terminal through a pty of its own.
    int run(const Arguments& args)
    {
        requireMachineName(args[0]);
        std::vector<std::string> command(args.begin() + 1, args.end());
        const auto& v = verbOptions_;
        std::map<std::string, sdbus::Variant> options;
        if (!v.user.empty())
            options["user"] = sdbus::Variant{v.user};
        if (!v.environment.empty())
            options["env"] = sdbus::Variant{v.environment};
        if (!v.cwd.empty())
            options["cwd"] = sdbus::Variant{v.cwd};
        return runWithOurStdio(args[0], command, options, {});
    }

    // shell NAME [USER]: a login shell; on a terminal, through a pty of its own.
    int shell(const Arguments& args)
    {
        requireMachineName(args[0]);
        std::string user = args.size() > 1 ? args[1] : "root";
        if (!isValidUserName(user))
            throw UsageError("'" + user + "' is not a valid user name.");
        // The user's own shell from the container's passwd, in their home, as a login shell.
        std::vector<std::string> command{"/bin/sh", "-c", "cd \"$HOME\" 2>/dev/null; exec \"${SHELL:-/bin/sh}\" -l"};
        std::map<std::string, sdbus::Variant> options{{"user", sdbus::Variant{user}}};
        if (const char* term = getenv("TERM"))
            options["env"] = sdbus::Variant{std::vector<std::string>{std::string("TERM=") + term}};
        return runWithOurStdio(args[0], command, options,
                               "Connected to " + args[0] + " as " + user + "; exit the shell to leave.\n");
    }

    // Runs the command with our stdin, stdout and stderr. Those on a terminal go
    // through a pty of our own, relayed: the container never holds our terminal,
    // so root inside can neither push keys into it (TIOCSTI) nor keep it.
    // `banner`, when set, is printed once connected to a terminal.
    int runWithOurStdio(const std::string& machine, const std::vector<std::string>& command,
                        const std::map<std::string, sdbus::Variant>& options, const std::string& banner)
    {
        bool onTerminal = isatty(STDIN_FILENO) || isatty(STDOUT_FILENO) || isatty(STDERR_FILENO);
        if (!onTerminal || !options_.host.empty())
            return runCommand(machine, command, options, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO);
        TerminalRelay relay;
        auto relayed = [&relay](int fd) { return isatty(fd) ? relay.terminalFd() : fd; };
        std::cerr << banner;
        return runCommand(machine, command, options, relayed(STDIN_FILENO), relayed(STDOUT_FILENO),
                          relayed(STDERR_FILENO), &relay);
    }

    int importTemplate(const Arguments& args)
    {
        requireMachineName(args[0]);
        if (!verbOptions_.arch.empty() || !verbOptions_.url.empty() || !verbOptions_.distro.empty())
            throw UsageError("import takes a file; --distro, --url and --arch belong to create-template.");
        // We open the file, so a file only the caller can read works too.
        UniqueFd file(args[1] == "-" ? dup(STDIN_FILENO) : open(args[1].c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
        if (!file) {
            std::cerr << "Cannot open " << args[1] << ": " << std::strerror(errno) << "\n";
            return ExitFailure;
        }
        auto call = bus_.mutatingCall("ImportTemplate");
        call << args[0] << sdbus::UnixFd(file.get()) << verbOptions_.toDbus(false);
        return waitForJobReply(bus_.send(call));
    }

    int list(const Arguments&)
    {
        auto machines = bus_.manager().ListMachines();
        std::vector<std::vector<std::string>> rows{{"NAME", "CLASS", "STATE", "OS", "ARCH"}};
        std::string jsonOut = "[";
        for (const auto& machine : machines) {
            Properties properties;
            try {
                properties = MachineProxy(bus_.connection(), machine.get<3>()).GetAll(bus::machineInterface);
            } catch (const sdbus::Error&) {
                continue; // removed since the listing
            }
            std::string arch = property<std::string>(properties, "Architecture");
            rows.push_back(
                {machine.get<0>(), machine.get<1>(), machine.get<2>(), osName(properties), arch.empty() ? "-" : arch});
            jsonOut += std::string(jsonOut.size() > 1 ? "," : "") + "{\"name\":" + json::quote(machine.get<0>()) +
                       ",\"class\":" + json::quote(machine.get<1>()) + ",\"state\":" + json::quote(machine.get<2>()) +
                       ",\"os\":" + json::quote(osName(properties)) + ",\"architecture\":" + json::quote(arch) +
                       ",\"path\":" + json::quote(machine.get<3>()) + "}";
        }
        if (options_.json) {
            std::cout << jsonOut << "]\n";
        } else if (machines.empty()) {
            std::cout << "No machines.\n";
        } else {
            std::cout << formatTable(rows) << "\n"
                      << machines.size() << (machines.size() == 1 ? " machine" : " machines") << " listed.\n";
        }
        return ExitSuccess;
    }

    int status(const Arguments& args)
    {
        requireMachineName(args[0]);
        auto path = bus_.manager().GetMachine(args[0]);
        auto properties = MachineProxy(bus_.connection(), path).GetAll(bus::machineInterface);
        if (options_.json) {
            std::string out = "{";
            for (const auto& [name, value] : properties)
                out += (out.size() > 1 ? "," : "") + json::quote(name) + ":" + variantToJson(value);
            std::cout << out << "}\n";
            return ExitSuccess;
        }
        auto unit = property<std::string>(properties, "Unit");
        auto arch = property<std::string>(properties, "Architecture");
        std::cout << property<std::string>(properties, "Name") << " (" << property<std::string>(properties, "Class")
                  << ")\n";
        std::vector<std::vector<std::string>> rows{
            {"State:", property<std::string>(properties, "State")},
            {"Unit:", unit.empty() ? "-" : unit},
            {"Directory:", property<std::string>(properties, "Directory")},
            {"OS:", osName(properties)},
            {"Architecture:", arch.empty() ? "unknown" : arch},
            {"Read-only:", property<bool>(properties, "ReadOnly") ? "yes" : "no"},
            {"Enabled:", property<bool>(properties, "Enabled") ? "yes" : "no"},
            {"Created:", formatTimestamp(property<std::uint64_t>(properties, "CreationTimestamp"))},
        };
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
        auto addresses = machineAddresses(args[0]);
        for (std::size_t i = 0; i < addresses.size(); ++i)
            rows.push_back({i == 0 ? "Address:" : "", addresses[i]});
        std::istringstream table(formatTable(rows));
        for (std::string line; std::getline(table, line);)
            std::cout << "  " << line << "\n";
        // The journal is this machine's, so a remote machine's is not at hand.
        if (options_.host.empty())
            printJournalTail(unit.empty() ? "bred-machine-" + args[0] + ".service" : unit);
        return ExitSuccess;
    }

    int jobs(const Arguments&)
    {
        auto jobs = bus_.manager().ListJobs();
        std::vector<std::vector<std::string>> rows{{"ID", "TYPE", "MACHINE", "STATE", "PROGRESS", "STAGE"}};
        std::string jsonOut = "[";
        for (const auto& job : jobs) {
            Properties properties;
            try {
                properties = JobProxy(bus_.connection(), job.get<4>()).GetAll(bus::jobInterface);
            } catch (const sdbus::Error&) {
                continue; // ended since the listing
            }
            double progress = property<double>(properties, "Progress", -1);
            std::string stage = property<std::string>(properties, "Stage");
            rows.push_back({std::to_string(job.get<0>()), job.get<1>(), job.get<2>(), job.get<3>(),
                            progress < 0 ? "-" : std::to_string(int(progress * 100)) + "%",
                            stage.empty() ? "-" : stage});
            std::ostringstream progressText;
            progressText << progress;
            jsonOut += std::string(jsonOut.size() > 1 ? "," : "") + "{\"id\":" + std::to_string(job.get<0>()) +
                       ",\"type\":" + json::quote(job.get<1>()) + ",\"machine\":" + json::quote(job.get<2>()) +
                       ",\"state\":" + json::quote(job.get<3>()) + ",\"progress\":" + progressText.str() +
                       ",\"stage\":" + json::quote(stage) + ",\"path\":" + json::quote(job.get<4>()) + "}";
        }
        if (options_.json)
            std::cout << jsonOut << "]\n";
        else if (jobs.empty())
            std::cout << "No jobs.\n";
        else
            std::cout << formatTable(rows);
        return ExitSuccess;
    }

    int cancel(const Arguments& args)
    {
        std::uint32_t id = 0;
        try {
            std::size_t used = 0;
            unsigned long value = std::stoul(args[0], &used);
            if (used != args[0].size() || value == 0 || value > UINT32_MAX)
                throw std::invalid_argument("id");
            id = static_cast<std::uint32_t>(value);
        } catch (const std::logic_error&) {
            throw UsageError("'" + args[0] + "' is not a job id; 'bredmachine jobs' lists them.");
        }
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

    int remove(const Arguments& args)
    {
        requireMachineName(args[0]);
        auto call = bus_.mutatingCall("Remove");
        call << args[0];
        return waitForJobReply(bus_.send(call));
    }

    int rename(const Arguments& args)
    {
        requireMachineName(args[0]);
        requireMachineName(args[1]);
        auto call = bus_.mutatingCall("Rename");
        call << args[0] << args[1];
        bus_.send(call);
        return ExitSuccess;
    }

private:
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
            if (geteuid() != 0)
                std::cout << "\nNo journal lines of " << unit << " are visible to this user (root and members of "
                          << "'adm' or 'systemd-journal' see them).\n";
            return;
        }
        std::cout << "\n";
        for (const auto& line : lines) {
            std::time_t seconds = std::time_t(line.realtimeUsec / 1000000);
            std::tm local{};
            localtime_r(&seconds, &local);
            char when[32];
            std::strftime(when, sizeof when, "%b %d %H:%M:%S", &local);
            std::cout << when << " " << (line.identifier.empty() ? "-" : line.identifier) << ": " << line.message
                      << "\n";
        }
    }

    int runCommand(const std::string& machine, const std::vector<std::string>& command,
                   const std::map<std::string, sdbus::Variant>& options, int in, int out, int err,
                   TerminalRelay* relay = nullptr)
    {
        auto call = bus_.mutatingCall("Run");
        call << machine << command << sdbus::UnixFd(in) << sdbus::UnixFd(out) << sdbus::UnixFd(err) << options;
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

    int waitForJobReply(sdbus::MethodReply reply)
    {
        std::uint32_t id = 0;
        sdbus::ObjectPath path;
        reply >> id >> path;
        return bus_.waitForJob(id, path);
    }

    BusClient& bus_;
    const Options& options_;
    const VerbOptions& verbOptions_;
};

struct Verb {
    const char* name;
    std::size_t minArgs, maxArgs;
    int (Verbs::*run)(const Arguments&);
    bool mutating;
};

// "a,b,,c" appended as a, b, c.
void splitCommaList(const std::string& text, std::vector<std::string>& into)
{
    std::istringstream list(text);
    for (std::string item; std::getline(list, item, ',');)
        if (!item.empty())
            into.push_back(item);
}

const Verb verbTable[] = {
    {"list", 0, 0, &Verbs::list, false},
    {"status", 1, 1, &Verbs::status, false},
    {"jobs", 0, 0, &Verbs::jobs, false},
    {"distros", 0, 0, &Verbs::distros, false},
    {"create-template", 1, 1, &Verbs::createTemplate, true},
    {"import", 2, 2, &Verbs::importTemplate, true},
    {"clone", 2, 2, &Verbs::clone, true},
    {"start", 1, 1, &Verbs::start, true},
    {"bind", 2, 2, &Verbs::bind, true},
    {"unbind", 2, 2, &Verbs::unbind, true},
    {"network", 1, 1, &Verbs::network, true},
    {"stop", 1, 1, &Verbs::stop, true},
    {"cancel", 1, 1, &Verbs::cancel, true},
    {"enable", 1, 1, &Verbs::enable, true},
    {"disable", 1, 1, &Verbs::disable, true},
    {"add-user", 2, 2, &Verbs::addUser, true},
    {"recipes", 0, 0, &Verbs::recipes, false},
    {"convert", 1, 1, &Verbs::convert, true},
    {"run", 2, SIZE_MAX, &Verbs::run, true},
    {"shell", 1, 2, &Verbs::shell, true},
    {"remove", 1, 1, &Verbs::remove, true},
    {"rename", 2, 2, &Verbs::rename, true},
};

int run(int argc, char** argv)
{
    Options options;
    VerbOptions verbOptions;
    enum {
        optionJson = 0x100,
        optionNoProgress,
        optionNoAskPassword,
        optionVersion,
        optionDistro,
        optionArch,
        optionUrl,
        optionSha256,
        optionVerify,
        optionForce,
        optionTemplate,
        optionSettings,
        optionReadOnly,
        optionMkdir,
        optionHostNetwork,
        optionVeth,
        optionBridge,
        optionAddress,
        optionGateway,
        optionDns,
        optionDhcp,
        optionUser,
        optionEnv,
        optionCwd,
        optionPasswordHash,
        optionGroups,
        optionShell,
        optionRecipe,
        optionWith,
    };
    const option longOptions[] = {
        {"json", no_argument, nullptr, optionJson},
        {"no-progress", no_argument, nullptr, optionNoProgress},
        {"no-ask-password", no_argument, nullptr, optionNoAskPassword},
        {"host", required_argument, nullptr, 'H'},
        {"version", no_argument, nullptr, optionVersion},
        {"distro", required_argument, nullptr, optionDistro},
        {"arch", required_argument, nullptr, optionArch},
        {"url", required_argument, nullptr, optionUrl},
        {"sha256", required_argument, nullptr, optionSha256},
        {"verify", required_argument, nullptr, optionVerify},
        {"force", no_argument, nullptr, optionForce},
        {"template", no_argument, nullptr, optionTemplate},
        {"settings", no_argument, nullptr, optionSettings},
        {"read-only", no_argument, nullptr, optionReadOnly},
        {"mkdir", no_argument, nullptr, optionMkdir},
        {"host-network", no_argument, nullptr, optionHostNetwork},
        {"veth", no_argument, nullptr, optionVeth},
        {"bridge", required_argument, nullptr, optionBridge},
        {"address", required_argument, nullptr, optionAddress},
        {"gateway", required_argument, nullptr, optionGateway},
        {"dns", required_argument, nullptr, optionDns},
        {"dhcp", no_argument, nullptr, optionDhcp},
        {"user", required_argument, nullptr, optionUser},
        {"env", required_argument, nullptr, optionEnv},
        {"cwd", required_argument, nullptr, optionCwd},
        {"password-hash", required_argument, nullptr, optionPasswordHash},
        {"groups", required_argument, nullptr, optionGroups},
        {"shell", required_argument, nullptr, optionShell},
        {"recipe", required_argument, nullptr, optionRecipe},
        {"with", required_argument, nullptr, optionWith},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    // `network NAME --host` is the network mode; elsewhere --host names a remote host.
    std::vector<std::string> rewritten(argv, argv + argc);
    if (std::find(rewritten.begin(), rewritten.end(), "network") != rewritten.end())
        for (auto& arg : rewritten)
            if (arg == "--host")
                arg = "--host-network";
    std::vector<char*> rewrittenArgv;
    for (auto& arg : rewritten)
        rewrittenArgv.push_back(arg.data());
    rewrittenArgv.push_back(nullptr);
    argv = rewrittenArgv.data();
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "hH:", longOptions, nullptr)) != -1;) {
        switch (c) {
        case optionJson:
            options.json = true;
            break;
        case optionNoProgress:
            options.progress = false;
            break;
        case optionNoAskPassword:
            options.askPassword = false;
            break;
        case 'H':
            options.host = optarg;
            break;
        case optionDistro:
            verbOptions.distro = optarg;
            break;
        case optionArch:
            verbOptions.arch = optarg;
            break;
        case optionUrl:
            verbOptions.url = optarg;
            break;
        case optionSha256:
            verbOptions.sha256 = optarg;
            break;
        case optionVerify:
            verbOptions.verify = optarg;
            break;
        case optionForce:
            verbOptions.force = true;
            break;
        case optionTemplate:
            verbOptions.asTemplate = true;
            break;
        case optionSettings:
            verbOptions.copySettings = true;
            break;
        case optionReadOnly:
            verbOptions.readOnly = true;
            break;
        case optionMkdir:
            verbOptions.mkdir = true;
            break;
        case optionHostNetwork:
            verbOptions.networkMode = "host";
            break;
        case optionVeth:
            verbOptions.networkMode = "veth";
            break;
        case optionBridge:
            verbOptions.networkMode = "bridge";
            verbOptions.bridge = optarg;
            break;
        case optionAddress:
            verbOptions.address = optarg;
            break;
        case optionGateway:
            verbOptions.gateway = optarg;
            break;
        case optionDns:
            verbOptions.dns.push_back(optarg);
            break;
        case optionDhcp:
            verbOptions.dhcp = true;
            break;
        case optionUser:
            verbOptions.user = optarg;
            break;
        case optionEnv:
            verbOptions.environment.push_back(optarg);
            break;
        case optionCwd:
            verbOptions.cwd = optarg;
            break;
        case optionPasswordHash:
            verbOptions.passwordHash = optarg;
            break;
        case optionGroups:
            splitCommaList(optarg, verbOptions.groups);
            break;
        case optionRecipe:
            verbOptions.recipe = optarg;
            break;
        case optionWith:
            splitCommaList(optarg, verbOptions.extras);
            break;
        case optionShell:
            verbOptions.shell = optarg;
            break;
        case optionVersion:
            std::cout << "bredmachine " << BRED_VERSION << "\n";
            return ExitSuccess;
        case 'h':
            std::cout << helpText;
            return ExitSuccess;
        default:
            std::cerr << "Unknown or incomplete option '" << argv[optind - 1] << "'; see 'bredmachine --help'.\n";
            return ExitUsage;
        }
    }
    if (optind >= argc) {
        std::cerr << "No verb given; see 'bredmachine --help'.\n";
        return ExitUsage;
    }
    std::string verbName = argv[optind];
    Arguments args(argv + optind + 1, argv + argc);
    const Verb* verb = nullptr;
    for (const auto& entry : verbTable)
        if (verbName == entry.name)
            verb = &entry;
    if (!verb) {
        std::cerr << "Unknown verb '" << verbName << "'; see 'bredmachine --help'.\n";
        return ExitUsage;
    }
    if (args.size() < verb->minArgs || args.size() > verb->maxArgs) {
        std::cerr << "Wrong number of arguments for '" << verbName << "'; see 'bredmachine --help'.\n";
        return ExitUsage;
    }
    try {
        std::optional<PolkitAgent> agent;
        if (verb->mutating && options.askPassword && options.host.empty())
            agent.emplace();
        BusClient bus(options);
        Verbs verbs(bus, options, verbOptions);
        return (verbs.*(verb->run))(args);
    } catch (const UsageError& error) {
        std::cerr << error.what() << "\n";
        return ExitUsage;
    } catch (const sdbus::Error& error) {
        std::cerr << "Failed: " << (error.getMessage().empty() ? error.getName() : error.getMessage()) << "\n";
        return exitStatusForError(error);
    } catch (const std::exception& error) {
        // The terminal relay, the polkit agent and the standard library fail
        // with exceptions of their own; the user gets them in words too.
        std::cerr << "Failed: " << error.what() << "\n";
        return ExitFailure;
    }
}

} // namespace
} // namespace bred::client

int main(int argc, char** argv) { return bred::client::run(argc, argv); }
