#include "command-line.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace bred::client {
namespace {

const OptionSpec noBlock{"no-block", 0, nullptr, "Print the job's object path and return at once"};
const OptionSpec verifyOption{"verify", 0, "MODE",
                              "no, checksum or signature (default: the strongest the source offers)"};
const OptionSpec sha256Option{"sha256", 0, "HEX", "The archive's expected SHA-256"};
const std::vector<OptionSpec> networkOptions{
    {"host", 0, nullptr, "Share the host's network"},
    {"veth", 0, nullptr, "A virtual Ethernet link to the host"},
    {"bridge", 0, "BR", "A virtual Ethernet link on the host's bridge BR"},
    {"address", 0, "CIDR", "host0's static address"},
    {"gateway", 0, "IP", "host0's gateway"},
    {"dns", 0, "IP", "A DNS server (repeatable)"},
    {"dhcp", 0, nullptr, "host0 takes its address by DHCP"},
};

std::vector<OptionSpec> joined(std::vector<OptionSpec> options, const std::vector<OptionSpec>& more)
{
    options.insert(options.end(), more.begin(), more.end());
    return options;
}

const OptionSpec envOption{"env", 'E', "NAME=VALUE", "Set an environment variable (repeatable)"};

// A table, laid out as one: clang-format would give every field a line.
// clang-format off
const std::vector<VerbSpec> verbs{
    {"list", "", "List machines (templates and containers)",
     "Lists every machine with its class, state, operating system and architecture.", 0, 0,
     {{"size", 0, nullptr, "Add a column with each machine's disk usage"}}},
    {"status", "NAME...", "Show a machine's state, processes, disk usage and log",
     "Shows a machine's properties, the processes of its unit, its disk usage and its unit's last journal lines.", 1,
     SIZE_MAX, {}},
    {"distros", "", "List the distributions templates can be created from",
     "Lists the distribution catalog: each distribution's releases, their architectures and which is the default.",
     0, 0, {}},
    {"recipes", "", "List the conversion recipes", "Lists the recipes 'convert' can run.", 0, 0, {}},
    {"jobs", "", "List running jobs", "Lists the daemon's running jobs with their progress.", 0, 0, {}},
    {"cancel", "ID", "Cancel a job", "Cancels a running job; 'jobs' lists their ids.", 1, 1, {}, SIZE_MAX, false, true},
    {"create", "NAME --distro=ID", "Make a container from nothing in one step",
     "Makes the container NAME of the distribution ID: creates the template ID-RELEASE-ARCH when it is missing (and "
     "keeps it for the next create), clones it, converts the clone with --convert, sets its network, and starts it "
     "with --start, showing one progress display for the whole way. After this verb --host is the network mode; "
     "name a remote host with -H.",
     1, 1,
     joined({{"distro", 0, "ID", "A distribution of 'distros'"},
             {"release", 0, "RELEASE", "Its release (default: the catalog's; 'distros' lists them)"},
             {"arch", 0, "ARCH", "Its architecture (default: this host's)"},
             verifyOption,
             {"convert", 0, "RECIPE", "Convert it with a recipe of 'recipes'"},
             {"with", 0, "PKG,...", "Extra packages of the conversion"},
             {"start", 0, nullptr, "Start it, and wait until it is up"}},
            networkOptions),
     SIZE_MAX, false, true},
    {"create-template", "NAME (--distro=ID | --url=URL)", "Download, verify and install a template",
     "Downloads a root file system archive, verifies it, and installs it atomically as the read-only template NAME.",
     1, 1,
     {{"distro", 0, "ID", "A distribution of 'distros'"},
      {"arch", 0, "ARCH", "Its architecture (default: this host's)"},
      {"release", 0, "RELEASE", "Its release, from 'distros' (default: the distribution's)"},
      {"url", 0, "URL", "An http(s) URL of a root file system archive"},
      sha256Option,
      verifyOption,
      {"force", 0, nullptr, "Replace an existing template of that name"},
      noBlock},
     SIZE_MAX, false, true},
    {"import", "NAME FILE|-", "Install a template from a local archive",
     "Installs the archive FILE ('-': standard input) as the template NAME. The client opens the file, so a file "
     "only you can read works too.",
     2, 2,
     {sha256Option,
      verifyOption,
      {"force", 0, nullptr, "Replace an existing template of that name"},
      {"container", 0, nullptr, "Install it as a container (an export brought back), not a template"},
      noBlock},
     SIZE_MAX, true, true},
    {"export", "NAME FILE|-", "Write a stopped machine to an archive",
     "Writes the stopped machine NAME as a tar archive to FILE ('-': standard output, not a terminal), keeping "
     "owners, modes, ACLs, extended attributes, hard links and holes. The client creates FILE, and removes it when "
     "the export fails or is canceled. 'import NAME FILE --container' brings it back.",
     2, 2,
     {{"compression", 0, "KIND", "zst, gz, xz or none (default: from FILE's suffix, else zst)"}, noBlock},
     SIZE_MAX, true, true},
    {"clone", "SOURCE NAME", "Copy a machine into a new container (or template)",
     "Copies the machine SOURCE, keeping owners, modes, ACLs, extended attributes and hard links, into a new "
     "container NAME.",
     2, 2,
     {{"template", 0, nullptr, "Make the copy a read-only template"},
      {"settings", 0, nullptr, "Copy the machine's binds and network settings too"},
      noBlock},
     SIZE_MAX, false, true},
    {"convert", "NAME", "Convert a container with a recipe",
     "Runs a conversion recipe inside the container NAME (default: bredos).", 1, 1,
     {{"recipe", 0, "ID", "The recipe, of 'recipes'"}, {"with", 0, "PKG,...", "Extra packages to install"}, noBlock},
     SIZE_MAX, false, true},
    {"start", "NAME", "Boot a container", "Boots the container NAME and waits until it reports ready.", 1, 1,
     {noBlock}, SIZE_MAX, false, true},
    {"stop", "NAME", "Power a container off",
     "Powers the container NAME off cleanly, as 'poweroff' does; --force terminates it as 'terminate' does.", 1, 1,
     {{"force", 0, nullptr, "Terminate the container instead of powering it off"}, noBlock}, SIZE_MAX, false, true},
    {"poweroff", "NAME", "Power a container off cleanly", "Powers the container NAME off cleanly.", 1, 1, {noBlock},
     SIZE_MAX, false, true},
    {"terminate", "NAME", "Terminate a container", "Kills the container NAME's processes and stops its unit.", 1, 1,
     {noBlock}, SIZE_MAX, false, true},
    {"reboot", "NAME", "Reboot a container", "Asks the container NAME's init to reboot it.", 1, 1, {}, SIZE_MAX,
     false, true},
    {"kill", "NAME", "Send a signal to a container's processes",
     "Sends a signal to the processes of the container NAME: all of them (default), or its init only.", 1, 1,
     {{"signal", 's', "SIGNAL", "The signal, by name or number (default: SIGTERM)"},
      {"kill-whom", 0, "WHOM", "all (default) or leader (the container's init)"}},
     SIZE_MAX, false, true},
    {"enable", "NAME", "Start a container at boot", "Starts the container NAME at boot, through machines.target.", 1,
     1, {}, SIZE_MAX, false, true},
    {"disable", "NAME", "Do not start a container at boot", "Stops starting the container NAME at boot.", 1, 1, {},
     SIZE_MAX, false, true},
    {"bind", "NAME SOURCE[:DEST]", "Bind a host folder into a container",
     "Binds the host folder SOURCE to DEST inside (default: the same path), kept in the container's settings and "
     "applied at once when it runs.",
     2, 2,
     {{"read-only", 0, nullptr, "Bind it read-only"}, {"mkdir", 0, nullptr, "Create the source folder if missing"}},
     SIZE_MAX, false, true},
    {"unbind", "NAME DEST", "Drop a bind", "Drops the bind at DEST from the container's settings.", 2, 2, {}, SIZE_MAX,
     false, true},
    {"network", "NAME (--host | --veth | --bridge=BR)", "Set up a container's network",
     "Sets up the container's network on both sides: nspawn's settings on the host, host0 inside. After this verb "
     "--host is the network mode; name a remote host with -H.",
     1, 1,
     networkOptions, SIZE_MAX, false, true},
    {"add-user", "NAME USER", "Create a login user inside a container",
     "Creates the login user USER inside the container NAME.", 2, 2,
     {{"password-hash", 0, "HASH", "A crypt(3) hash, as 'openssl passwd -6' prints ('-': read from standard input)"},
      {"groups", 0, "G,...", "Supplementary groups"},
      {"shell", 0, "PATH", "The login shell"}},
     SIZE_MAX, false, true},
    {"run", "NAME [--] COMMAND [ARG...]", "Run a command inside a container",
     "Runs COMMAND inside the container NAME, running or stopped, with this terminal's input and output, and exits "
     "with its status. Options after COMMAND are the command's.",
     2, SIZE_MAX,
     {{"user", 0, "USER", "Run as USER (default: root)"},
      envOption,
      {"cwd", 0, "DIR", "The working directory"},
      {"pty", 0, nullptr, "Through a pseudo-terminal even when not on a terminal"}},
     1, true, true},
    {"shell", "[USER@]NAME [COMMAND [ARG...]]", "A shell or a command as a user inside",
     "Opens a login shell of USER (default: root) inside the container NAME, or runs COMMAND there in USER's home.",
     1, SIZE_MAX, {envOption}, 1, true, true},
    {"login", "NAME", "A login prompt inside a container",
     "Opens a login prompt inside the running container NAME on this terminal.", 1, 1, {}, SIZE_MAX, true, true},
    {"remove", "NAME", "Delete a stopped machine", "Deletes a stopped machine, its tree and its settings.", 1, 1,
     {noBlock}, SIZE_MAX, false, true},
    {"rename", "NAME NEW", "Rename a stopped machine", "Renames a stopped machine and its settings.", 2, 2, {},
     SIZE_MAX, false, true},
    {"copy-to", "NAME HOST-PATH [PATH]", "Copy a file or directory into a machine",
     "Copies the host's file or directory HOST-PATH into the machine NAME, running or stopped, as PATH (default: the "
     "same path), keeping owners, modes, timestamps and extended attributes. A relative HOST-PATH is taken from the "
     "current directory.",
     2, 3, {{"replace", 0, nullptr, "Replace PATH when it exists"}, noBlock}, SIZE_MAX, false, true},
    {"copy-from", "NAME PATH [HOST-PATH]", "Copy a file or directory out of a machine",
     "Copies the file or directory PATH of the machine NAME, running or stopped, to HOST-PATH on the host (default: "
     "the same path), keeping owners, modes, timestamps and extended attributes. A relative HOST-PATH is taken from "
     "the current directory.",
     2, 3, {{"replace", 0, nullptr, "Replace HOST-PATH when it exists"}, noBlock}, SIZE_MAX, false, true},
    {"logs", "NAME", "Show a machine's log",
     "Shows what the host logged for the machine's unit (systemd-nspawn and the console), with this user's rights "
     "to the host's journal, then the machine's own journal, read inside it by its journalctl (which needs the "
     "right to run commands there, as 'run' does). With --follow both go on until the container stops or ^C.",
     1, 1,
     {{"follow", 'f', nullptr, "Keep showing new lines of a starting or running container"},
      {"lines", 'n', "N", "The last N lines of each log (default: all, or 10 with --follow)"},
      {"since", 'S', "TIME", "Lines from TIME on, as journalctl takes it: '2026-12-01 10:00', -1h, today"}},
     SIZE_MAX, true, true},
    {"limit", "NAME", "Set a container's resource limits",
     "Sets resource limits of the container NAME: applied at once when it runs, and kept for every later start. "
     "'none' unsets a limit; limits not given stay as they were. 'status' shows them with the current use.",
     1, 1,
     {{"memory", 0, "SIZE", "Memory limit: 512M, 2G, bytes, or none"},
      {"memory-high", 0, "SIZE", "Memory above which it is throttled and reclaimed"},
      {"cpu", 0, "PERCENT", "CPU time in percent of one CPU: 50%, 200% (two CPUs), or none"},
      {"cpu-weight", 0, "N", "CPU share against other units, 1 to 10000 (none: the default)"},
      {"io-weight", 0, "N", "I/O share against other units, 1 to 10000 (none: the default)"},
      {"tasks", 0, "N", "Most processes and threads at once (none: the default)"}},
     SIZE_MAX, false, true},
};

const std::vector<OptionSpec> globals{
    {"help", 'h', nullptr, "Show this help, or a verb's with the verb"},
    {"version", 0, nullptr, "Show the version"},
    {"host", 'H', "[USER@]HOST", "Operate on a remote host's daemon over SSH"},
    {"json", 0, "MODE", "pretty, short or off: machine-readable output of listing verbs"},
    {"", 'j', nullptr, "--json=pretty on a terminal, --json=short otherwise"},
    {"no-legend", 0, nullptr, "No column headers and no footer"},
    {"quiet", 'q', nullptr, "No informational messages"},
    {"no-pager", 0, nullptr, "Accepted; nothing pages"},
    {"no-progress", 0, nullptr, "No progress bar for job verbs"},
    {"no-ask-password", 0, nullptr, "Do not ask for a password when authorization needs one"},
};
// clang-format on

const VerbSpec* findVerb(const std::string& name)
{
    for (const auto& verb : verbs)
        if (name == verb.name)
            return &verb;
    return nullptr;
}

const OptionSpec* findOption(const std::vector<OptionSpec>& options, const std::string& longName, char shortName)
{
    for (const auto& option : options)
        if ((!longName.empty() && longName == option.longName) || (shortName != 0 && shortName == option.shortName))
            return &option;
    return nullptr;
}

std::string seeHelp(const VerbSpec* verb)
{
    return verb ? std::string("; see 'bredmachine ") + verb->name + " --help'." : "; see 'bredmachine --help'.";
}

void applyGlobal(GlobalOptions& global, CommandLine& line, const OptionSpec& option, const std::string& value,
                 bool stdoutIsTerminal)
{
    const std::string name = option.longName;
    if (name == "help")
        line.action = CommandLine::Action::ShowHelp;
    else if (name == "version")
        line.action = CommandLine::Action::ShowVersion;
    else if (name == "host")
        global.host = value;
    else if (name == "json") {
        if (value == "pretty")
            global.json = JsonMode::Pretty;
        else if (value == "short")
            global.json = JsonMode::Short;
        else if (value == "off")
            global.json = JsonMode::Off;
        else
            throw UsageError("--json takes pretty, short or off, not '" + value + "'.");
    } else if (option.shortName == 'j')
        global.json = stdoutIsTerminal ? JsonMode::Pretty : JsonMode::Short;
    else if (name == "no-legend")
        global.legend = false;
    else if (name == "quiet")
        global.quiet = true;
    else if (name == "no-progress")
        global.progress = false;
    else if (name == "no-ask-password")
        global.askPassword = false;
    // --no-pager: nothing pages.
}

// Which verbs have an option of that name, for a message that helps.
std::string verbsWithOption(const std::string& longName)
{
    std::string names;
    for (const auto& verb : verbs)
        if (findOption(verb.options, longName, 0))
            names += (names.empty() ? "" : ", ") + std::string(verb.name);
    return names;
}

} // namespace

const std::vector<VerbSpec>& verbSpecs() { return verbs; }
const std::vector<OptionSpec>& globalOptionSpecs() { return globals; }

std::string CommandLine::value(const std::string& name) const
{
    auto it = options.find(name);
    return it == options.end() || it->second.empty() ? std::string() : it->second.back();
}

std::vector<std::string> CommandLine::values(const std::string& name) const
{
    auto it = options.find(name);
    return it == options.end() ? std::vector<std::string>{} : it->second;
}

CommandLine parseCommandLine(const std::vector<std::string>& arguments, bool stdoutIsTerminal)
{
    CommandLine line;
    bool optionsEnded = false;
    bool commandStarted = false;
    // Options before the verb are global; after it the verb's come first, so
    // `network NAME --host` is the network mode.
    auto lookup = [&](const std::string& longName, char shortName, bool& isGlobal) -> const OptionSpec* {
        if (line.verb)
            if (const auto* own = findOption(line.verb->options, longName, shortName)) {
                isGlobal = false;
                return own;
            }
        isGlobal = true;
        return findOption(globals, longName, shortName);
    };
    auto unknown = [&](const std::string& text, const std::string& longName) {
        std::string message = "Unknown option '" + text + "'";
        if (line.verb) {
            message += " for '" + std::string(line.verb->name) + "'";
            if (auto owners = verbsWithOption(longName); !longName.empty() && !owners.empty())
                message += " (it is an option of " + owners + ")";
        }
        return UsageError(message + seeHelp(line.verb));
    };
    auto take = [&](const OptionSpec& option, bool isGlobal, const std::string& value) {
        if (isGlobal)
            applyGlobal(line.global, line, option, value, stdoutIsTerminal);
        else
            line.options[option.longName].push_back(value);
    };

    for (std::size_t i = 0; i < arguments.size(); ++i) {
        const std::string& argument = arguments[i];
        bool positional = optionsEnded || commandStarted || argument.size() < 2 || argument[0] != '-';
        if (!positional && argument == "--") {
            optionsEnded = true;
            continue;
        }
        if (positional) {
            if (!line.verb) {
                line.verb = findVerb(argument);
                if (!line.verb)
                    throw UsageError("Unknown verb '" + argument + "'; see 'bredmachine --help'.");
                continue;
            }
            line.arguments.push_back(argument);
            if (line.arguments.size() > line.verb->commandAfter)
                commandStarted = true;
            continue;
        }
        if (argument.compare(0, 2, "--") == 0) {
            auto equals = argument.find('=');
            std::string name = argument.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
            bool isGlobal = false;
            const OptionSpec* option = lookup(name, 0, isGlobal);
            if (!option)
                throw unknown(argument.substr(0, equals), name);
            std::string value;
            if (option->valueName == nullptr) {
                if (equals != std::string::npos) {
                    std::string message = "'--" + name + "' takes no value";
                    if (line.verb && !isGlobal && name == "host")
                        message += "; after 'network' it is the network mode, and -H HOST names a remote host";
                    throw UsageError(message + seeHelp(line.verb));
                }
            } else if (equals != std::string::npos) {
                value = argument.substr(equals + 1);
            } else if (isGlobal && name == "json") {
                // --json alone: as -j.
                line.global.json = stdoutIsTerminal ? JsonMode::Pretty : JsonMode::Short;
                continue;
            } else if (i + 1 < arguments.size()) {
                value = arguments[++i];
            } else {
                throw UsageError("'--" + name + "' needs a value (" + option->valueName + ")" + seeHelp(line.verb));
            }
            take(*option, isGlobal, value);
            continue;
        }
        // A group of short options: -qj, -Hhost, -H host, -s KILL.
        for (std::size_t j = 1; j < argument.size(); ++j) {
            bool isGlobal = false;
            const OptionSpec* option = lookup("", argument[j], isGlobal);
            if (!option)
                throw unknown(std::string("-") + argument[j], "");
            std::string value;
            if (option->valueName) {
                if (j + 1 < argument.size())
                    value = argument.substr(j + 1);
                else if (i + 1 < arguments.size())
                    value = arguments[++i];
                else
                    throw UsageError(std::string("'-") + argument[j] + "' needs a value (" + option->valueName + ")" +
                                     seeHelp(line.verb));
                take(*option, isGlobal, value);
                break;
            }
            take(*option, isGlobal, value);
        }
    }

    if (line.action != CommandLine::Action::RunVerb)
        return line;
    if (!line.verb)
        throw UsageError("No verb given; see 'bredmachine --help'.");
    const auto& verb = *line.verb;
    if (line.arguments.size() < verb.minArgs || line.arguments.size() > verb.maxArgs)
        throw UsageError(std::string("Wrong number of arguments for '") + verb.name + "': bredmachine " + verb.name +
                         (*verb.arguments ? " " : "") + verb.arguments + seeHelp(&verb));
    return line;
}

namespace {

// "  --long=VALUE, -s" columns, then the text at column 30.
std::string optionLines(const std::vector<OptionSpec>& options)
{
    std::string out;
    for (const auto& option : options) {
        std::string label = option.shortName ? std::string("-") + option.shortName : "  ";
        if (*option.longName)
            label += std::string(option.shortName ? ", " : "  ") + "--" + option.longName;
        if (option.valueName)
            label += (*option.longName ? "=" : " ") + std::string(option.valueName);
        label = "  " + label;
        if (label.size() + 2 > 30)
            out += label + "\n" + std::string(30, ' ');
        else
            out += label + std::string(30 - label.size(), ' ');
        out += std::string(option.help) + "\n";
    }
    return out;
}

} // namespace

std::string absolutePath(const std::string& path, const std::string& cwd)
{
    std::string normal = (std::filesystem::path(cwd) / path).lexically_normal().string();
    while (normal.size() > 1 && normal.back() == '/')
        normal.pop_back();
    return normal;
}

std::string exportCompression(const std::string& file, const std::string& given)
{
    if (!given.empty()) {
        if (given != "zst" && given != "gz" && given != "xz" && given != "none")
            throw UsageError("--compression takes zst, gz, xz or none, not '" + given + "'.");
        return given;
    }
    auto endsWith = [&file](std::string_view suffix) {
        return file.size() > suffix.size() && file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (endsWith(".tar.gz") || endsWith(".tgz"))
        return "gz";
    if (endsWith(".tar.xz") || endsWith(".txz"))
        return "xz";
    if (endsWith(".tar"))
        return "none";
    return "zst";
}

std::string mainHelp()
{
    std::string out = "Usage: bredmachine [OPTIONS...] VERB [ARGUMENTS...]\n\n"
                      "Manage systemd-nspawn machines (templates and containers) through bred-machined.\n\nVerbs:\n";
    for (const auto& verb : verbs) {
        std::string label = std::string("  ") + verb.name + (*verb.arguments ? " " : "") + verb.arguments;
        if (label.size() + 2 > 40)
            out += label + "\n" + std::string(40, ' ');
        else
            out += label + std::string(40 - label.size(), ' ');
        out += std::string(verb.summary) + "\n";
    }
    out += "\nOptions:\n" + optionLines(globals);
    out += "\n'bredmachine VERB --help' shows a verb's own options.\n"
           "Exit status: 0 success, 1 the operation failed, 2 bad usage, 4 not authorized;\n"
           "'run', 'shell' and 'login' exit with the command's own status.\n";
    return out;
}

namespace {

// Words filled into lines of at most `width` columns.
std::string wrap(const std::string& text, std::size_t width)
{
    std::string out, line;
    std::istringstream words(text);
    for (std::string word; words >> word;) {
        if (!line.empty() && line.size() + 1 + word.size() > width) {
            out += line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
    }
    return out + line + "\n";
}

} // namespace

std::string verbHelp(const VerbSpec& verb)
{
    std::string out = std::string("Usage: bredmachine ") + verb.name + (verb.options.empty() ? "" : " [OPTIONS...]") +
                      (*verb.arguments ? " " : "") + verb.arguments + "\n\n" + wrap(verb.description, 78);
    if (!verb.options.empty())
        out += "\nOptions:\n" + optionLines(verb.options);
    out += "\nThe global options ('bredmachine --help') are accepted too.\n";
    return out;
}

} // namespace bred::client
