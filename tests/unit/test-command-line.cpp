#include "command-line.h"
#include "output.h"
#include "process-tree.h"
#include "verbs.h"

#include "catch.h"

#include <cstdlib>

using namespace bred::client;

namespace {

CommandLine parse(std::vector<std::string> arguments, bool terminal = false)
{
    return parseCommandLine(arguments, terminal);
}

std::string usageErrorOf(std::vector<std::string> arguments)
{
    try {
        parse(std::move(arguments));
    } catch (const UsageError& error) {
        return error.what();
    }
    return "";
}

} // namespace

TEST_CASE("options belong to their verbs")
{
    auto line = parse({"stop", "web", "--force"});
    CHECK(std::string(line.verb->name) == "stop");
    CHECK(line.has("force"));
    CHECK_THAT(usageErrorOf({"start", "web", "--force"}),
               ContainsSubstring("Unknown option '--force' for 'start' (it is an option of create-template, import, "
                                 "stop); see 'bredmachine start --help'."));
    CHECK_THAT(usageErrorOf({"--force", "stop", "web"}), ContainsSubstring("Unknown option '--force'"));
    CHECK_THAT(usageErrorOf({"list", "--frobnicate"}), ContainsSubstring("Unknown option '--frobnicate' for 'list'"));
    CHECK_THAT(usageErrorOf({"frobnicate"}), ContainsSubstring("Unknown verb 'frobnicate'"));
    CHECK_THAT(usageErrorOf({}), ContainsSubstring("No verb given"));
    CHECK_THAT(usageErrorOf({"start"}),
               ContainsSubstring("Wrong number of arguments for 'start': bredmachine start NAME"));
    CHECK_THAT(usageErrorOf({"start", "a", "b"}),
               ContainsSubstring("Wrong number of arguments for 'start': bredmachine start NAME"));
    CHECK_THAT(usageErrorOf({"create-template", "t", "--distro"}), ContainsSubstring("'--distro' needs a value (ID)"));
    CHECK_THAT(usageErrorOf({"start", "web", "--no-block=yes"}), ContainsSubstring("'--no-block' takes no value"));
}

TEST_CASE("option values come with = or as the next argument, and repeat")
{
    auto line = parse({"network", "web", "--veth", "--address", "10.0.0.2/24", "--dns=1.1.1.1", "--dns", "9.9.9.9"});
    CHECK(line.value("address") == "10.0.0.2/24");
    CHECK(line.values("dns") == std::vector<std::string>{"1.1.1.1", "9.9.9.9"});
    auto kill = parse({"kill", "web", "-s", "KILL"});
    CHECK(kill.value("signal") == "KILL");
    CHECK(parse({"kill", "web", "-sHUP"}).value("signal") == "HUP");
}

TEST_CASE("global options go before or after the verb")
{
    auto before = parse({"-q", "--no-legend", "--no-pager", "--no-progress", "--no-ask-password", "list"});
    CHECK(before.global.quiet);
    CHECK_FALSE(before.global.legend);
    CHECK_FALSE(before.global.progress);
    CHECK_FALSE(before.global.askPassword);
    auto after = parse({"list", "--no-legend", "-q"});
    CHECK(after.global.quiet);
    CHECK_FALSE(after.global.legend);
    CHECK(parse({"-qj", "list"}).global.quiet);
}

TEST_CASE("--json takes pretty, short or off; -j and --json alone follow the terminal")
{
    CHECK(parse({"list", "--json=pretty"}).global.json == JsonMode::Pretty);
    CHECK(parse({"list", "--json=short"}).global.json == JsonMode::Short);
    CHECK(parse({"--json=pretty", "list", "--json=off"}).global.json == JsonMode::Off);
    CHECK(parse({"list", "-j"}, true).global.json == JsonMode::Pretty);
    CHECK(parse({"list", "-j"}, false).global.json == JsonMode::Short);
    CHECK(parse({"list", "--json"}, false).global.json == JsonMode::Short);
    CHECK(parse({"--json", "list"}, true).global.json == JsonMode::Pretty);
    CHECK_THAT(usageErrorOf({"list", "--json=yaml"}), ContainsSubstring("--json takes pretty, short or off"));
}

TEST_CASE("--host after 'network' is the network mode; -H names a remote host anywhere")
{
    auto network = parse({"network", "web", "--host"});
    CHECK(network.has("host"));
    CHECK(network.global.host.empty());
    auto remote = parse({"-H", "admin@board", "status", "network"});
    CHECK(remote.global.host == "admin@board");
    CHECK(remote.arguments == std::vector<std::string>{"network"});
    CHECK(parse({"--host=board", "network", "web", "--veth"}).global.host == "board");
    CHECK(parse({"network", "web", "--veth", "-H", "board"}).global.host == "board");
    CHECK(parse({"status", "web", "--host", "board"}).global.host == "board");
    CHECK_THAT(usageErrorOf({"network", "web", "--host=board"}), ContainsSubstring("-H HOST names a remote host"));
}

TEST_CASE("run and shell take the command as it is after the machine")
{
    auto run = parse({"run", "web", "--user=alice", "ls", "-l", "--color"});
    CHECK(run.value("user") == "alice");
    CHECK(run.arguments == std::vector<std::string>{"web", "ls", "-l", "--color"});
    auto dashed = parse({"run", "web", "-E", "A=1", "--", "sh", "-c", "true"});
    CHECK(dashed.values("env") == std::vector<std::string>{"A=1"});
    CHECK(dashed.arguments == std::vector<std::string>{"web", "sh", "-c", "true"});
    auto shell = parse({"shell", "carol@web", "id", "-un"});
    CHECK(shell.arguments == std::vector<std::string>{"carol@web", "id", "-un"});
    CHECK(parse({"shell", "web"}).arguments.size() == 1);
    CHECK_THAT(usageErrorOf({"run", "web"}),
               ContainsSubstring("Wrong number of arguments for 'run': bredmachine run NAME [--] COMMAND"));
}

TEST_CASE("--help shows the verb's own help; --version wins over a verb")
{
    auto help = parse({"start", "--help"});
    CHECK(help.action == CommandLine::Action::ShowHelp);
    REQUIRE(help.verb);
    auto text = verbHelp(*help.verb);
    CHECK_THAT(text, StartsWith("Usage: bredmachine start [OPTIONS...] NAME"));
    CHECK_THAT(text, ContainsSubstring("--no-block"));
    CHECK_THAT(verbHelp(*parse({"kill", "x", "-h"}).verb), ContainsSubstring("-s, --signal=SIGNAL"));
    // Help even where the arguments are incomplete.
    CHECK(parse({"clone", "--help"}).action == CommandLine::Action::ShowHelp);
    CHECK(parse({"--help"}).verb == nullptr);
    CHECK(parse({"--version"}).action == CommandLine::Action::ShowVersion);
}

TEST_CASE("the main help lists every verb and global option")
{
    auto text = mainHelp();
    for (const auto& verb : verbSpecs()) {
        CHECK_THAT(text, ContainsSubstring(std::string("  ") + verb.name));
        // Every verb's help line fits in its description.
        CHECK_THAT(verbHelp(verb), StartsWith(std::string("Usage: bredmachine ") + verb.name));
    }
    for (const auto& option : globalOptionSpecs())
        CHECK_THAT(text, ContainsSubstring(*option.longName ? std::string("--") + option.longName
                                                            : std::string("-") + option.shortName));
}

TEST_CASE("copy-to and copy-from take host paths from the current directory, normalized")
{
    CHECK(absolutePath("notes.txt", "/home/bob") == "/home/bob/notes.txt");
    CHECK(absolutePath("./a/../b/", "/home/bob") == "/home/bob/b");
    CHECK(absolutePath("/etc//hosts", "/home/bob") == "/etc/hosts");
    CHECK(absolutePath("..", "/") == "/");
    CHECK(absolutePath(".", "/srv") == "/srv");
    auto line = parseCommandLine({"copy-to", "box", "a", "b", "--replace"}, false);
    CHECK(line.has("replace"));
    CHECK_THROWS_AS(parseCommandLine({"copy-from", "box"}, false), UsageError);
    CHECK_THROWS_AS(parseCommandLine({"copy-from", "box", "a", "b", "c"}, false), UsageError);
}

TEST_CASE("logs takes a count of lines and a time")
{
    auto line = parseCommandLine({"logs", "box", "-f", "-n", "20", "--since=-1h"}, false);
    CHECK(line.has("follow"));
    CHECK(line.value("lines") == "20");
    CHECK(line.value("since") == "-1h");
    CHECK_THROWS_AS(checkCommandLine(parseCommandLine({"logs", "box", "-n", "many"}, false)), UsageError);
    CHECK_THROWS_AS(checkCommandLine(parseCommandLine({"logs", "box", "-n", "-5"}, false)), UsageError);
    CHECK_NOTHROW(checkCommandLine(parseCommandLine({"logs", "box", "-n", "0"}, false)));
}

TEST_CASE("verbs that pass descriptors are marked, so -H is refused for them")
{
    for (const auto& verb : verbSpecs()) {
        const std::string name = verb.name;
        bool expected = name == "run" || name == "shell" || name == "login" || name == "import" || name == "logs" ||
                        name == "export";
        CHECK(verb.passesDescriptors == expected);
    }
}

TEST_CASE("colour follows NO_COLOR and the terminal")
{
    CHECK(colourState("running", false) == "running");
    CHECK(colourState("running", true) == "\033[0;32mrunning\033[0m");
    CHECK(colourState("stopped", true) == "stopped");
    setenv("NO_COLOR", "1", 1);
    CHECK_FALSE(colourWanted(1));
    unsetenv("NO_COLOR");
}

TEST_CASE("a unit's processes are drawn as the tree of their control groups")
{
    std::string root = "/machine.slice/bred-machine-web.service";
    std::vector<UnitProcess> processes{
        {root + "/payload/system.slice/systemd-journald.service", 120, "/lib/systemd/systemd-journald"},
        {root + "/payload/init.scope", 101, "/sbin/init"},
        {root + "/supervisor", 100, "systemd-nspawn --boot"},
        {root + "-other/x", 7, "not ours"},
    };
    auto lines = drawProcessTree(root, processes, 200);
    std::vector<std::string> expected{
        "├─payload",
        "│ ├─init.scope",
        "│ │ └─101 /sbin/init",
        "│ └─system.slice",
        "│   └─systemd-journald.service",
        "│     └─120 /lib/systemd/systemd-journald",
        "└─supervisor",
        "  └─100 systemd-nspawn --boot",
    };
    CHECK(lines == expected);
    for (const auto& line : drawProcessTree(root, processes, 12))
        CHECK(line.size() <= 12 * 3);
    CHECK(drawProcessTree(root, processes, 13)[2] == "│ │ └─101 /s…");
    CHECK(drawProcessTree(root, processes, 12)[2] == "│ │ └─101 /…");
}

TEST_CASE("export's compression: --compression, else FILE's suffix, else zst")
{
    CHECK(exportCompression("web.tar.zst", "") == "zst");
    CHECK(exportCompression("web.tzst", "") == "zst");
    CHECK(exportCompression("web.tar.gz", "") == "gz");
    CHECK(exportCompression("web.tgz", "") == "gz");
    CHECK(exportCompression("/srv/backups/web.tar.xz", "") == "xz");
    CHECK(exportCompression("web.txz", "") == "xz");
    CHECK(exportCompression("web.tar", "") == "none");
    CHECK(exportCompression("web.backup", "") == "zst");
    CHECK(exportCompression("-", "") == "zst");
    CHECK(exportCompression(".tar", "") == "zst"); // a name, not a suffix
    CHECK(exportCompression("web.tar.gz", "xz") == "xz");
    CHECK(exportCompression("web.tar", "none") == "none");
    CHECK_THROWS_AS(exportCompression("web.tar", "bz2"), UsageError);
    CHECK_THROWS_AS(checkCommandLine(parse({"export", "web", "web.tar", "--compression=lz4"})), UsageError);
    CHECK_THROWS_AS(checkCommandLine(parse({"export", "web", "-", "--no-block"})), UsageError);
    CHECK_NOTHROW(checkCommandLine(parse({"export", "web", "web.tar", "--no-block"})));
    CHECK(parse({"export", "web", "-", "--compression", "gz"}).value("compression") == "gz");
    CHECK(parse({"import", "web", "web.tar.zst", "--container"}).has("container"));
}
