// The requests of every Manager method: parsed from plain values, and checked
// against the machines as they are (before polkit is asked and again after).
#include "architecture.h"
#include "error-code.h"
#include "errors.h"
#include "machine-requests.h"
#include "refusals.h"

#include "catch.h"
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

using namespace bred;
using bred::test::errorCodeOf;

namespace {

// Machines as a test states them.
class Machines final : public MachineStateView {
public:
    Machines& add(const std::string& name, MachineClass machineClass = MachineClass::Container,
                  OsRelease osRelease = {{"ID", "arch"}})
    {
        MachineInfo info;
        info.name = name;
        info.directory = "/var/lib/machines/" + name;
        info.machineClass = machineClass;
        info.readOnly = machineClass == MachineClass::Template;
        info.osRelease = std::move(osRelease);
        info.architecture = hostArchitecture();
        machines_[name] = info;
        return *this;
    }
    Machines& run(const std::string& name)
    {
        running_.insert(name);
        return *this;
    }
    Machines& hold(const std::string& name)
    {
        held_.insert(name);
        return *this;
    }

    const MachineInfo* find(const std::string& name) const override
    {
        auto it = machines_.find(name);
        return it == machines_.end() ? nullptr : &it->second;
    }
    bool isRunning(const std::string& name) const override { return running_.count(name) > 0; }
    bool isHeld(const std::string& name) const override { return held_.count(name) > 0; }

private:
    std::map<std::string, MachineInfo> machines_;
    std::set<std::string> running_, held_;
};

// Names no method takes: empty, bad characters, path tricks, not UTF-8, huge.
const std::vector<std::string> hostileNames{"",
                                            "-a",
                                            "a-",
                                            "a b",
                                            "a/b",
                                            "..",
                                            ".",
                                            "a..b",
                                            "\xff\xfe",
                                            "caf\xc3",
                                            std::string(65, 'a'),
                                            std::string(1 << 20, 'x'),
                                            std::string("a\0b", 3),
                                            "a\nb",
                                            "$(reboot)"};

Recipe shippedRecipe()
{
    std::ifstream file(std::string(BRED_SOURCE_DIR) + "/daemon/data/recipes/bredos.toml");
    std::ostringstream text;
    text << file.rdbuf();
    return parseRecipe(text.str(), "bredos.toml");
}

Catalog testCatalog()
{
    return Catalog::parse(
        {{"vendor.toml", "[debian]\nname = \"Debian\"\nurl = \"https://cloud.example/debian-{arch}.tar.xz\"\n"
                         "architectures = { x86-64 = \"amd64\", arm64 = \"arm64\" }\n"}});
}

UniqueFd pipeReadEnd()
{
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    close(fds[1]);
    return UniqueFd(fds[0]);
}

} // namespace

TEST_CASE("every method refuses a hostile machine name before anything else")
{
    for (const auto& name : hostileNames) {
        INFO("name of " << name.size() << " bytes");
        CHECK(errorCodeOf([&] { parseStart(name, {}); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseStop(name, {}); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseMachine(name); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseClone(name, "b", {}); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseClone("a", name, {}); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseRename("a", name); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseRename(name, "b"); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseBind(name, "/srv", "", {}); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseUnbind(name, "/srv"); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseSetNetwork(name, {}); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseAddUser(name, "alice", {}); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseRun(name, {"true"}, {}, {}, {}, {}); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseConvert(name, "", {}, {shippedRecipe()}, {}); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseCreateTemplate(name, "https://a/b.tar", {}, testCatalog); }) ==
              ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { parseImportTemplate(name, pipeReadEnd(), {}); }) == ErrorCode::InvalidName);
        CHECK(errorCodeOf([&] { existingMachine(name, Machines()); }) == ErrorCode::InvalidName);
    }
}

TEST_CASE("options: unknown keys and wrong types are refused, naming the option")
{
    auto message = [](const std::function<void()>& call) {
        try {
            call();
        } catch (const Error& error) {
            CHECK(error.code() == ErrorCode::InvalidArgs);
            return std::string(error.what());
        }
        FAIL("no error");
        return std::string();
    };
    CHECK(message([] { parseStart("a", {{"force", true}}); }).find("Unknown option 'force'") != std::string::npos);
    CHECK(message([] {
              parseStop("a", {{"force", std::string("yes")}});
          }) == "Option 'force' must be a boolean (b), not 's'.");
    CHECK(message([] {
              parseStop("a", {{"force", OtherOptionType{"a{sv}"}}});
          }) == "Option 'force' must be a boolean (b), not 'a{sv}'.");
    CHECK(message([] {
              parseRun("a", {"true"}, {}, {}, {}, {{"env", std::string("A=1")}});
          }) == "Option 'env' must be a list of strings (as), not 's'.");
    CHECK(message([] {
              parseBind("a", "/srv", "", {{"read_only", OtherOptionType{"i"}}});
          }) == "Option 'read_only' must be a boolean (b), not 'i'.");
    CHECK(parseStop("a", {{"force", true}}).force);
    CHECK_FALSE(parseStop("a", {}).force);
}

TEST_CASE("the refusals are worded once, with the name and what to do")
{
    CHECK(std::string(refusal::noSuchMachine("x").what()).find("No machine 'x'") == 0);
    CHECK(refusal::noSuchMachine("x").code() == ErrorCode::NoSuchMachine);
    CHECK(refusal::machineExists("x").code() == ErrorCode::AlreadyExists);
    CHECK(std::string(refusal::machineExists("x", true).what()).find("(force)") != std::string::npos);
    CHECK(std::string(refusal::isTemplate("t", "start").what()).find("is a template") != std::string::npos);
    CHECK(refusal::running("x", "remove").code() == ErrorCode::Busy);
    CHECK(refusal::notRunning("x").code() == ErrorCode::NotRunning);
    CHECK(machineBusy("x").code() == ErrorCode::Busy);
    CHECK(refusal::invalidMachineName("a b").code() == ErrorCode::InvalidName);
}

TEST_CASE("CreateTemplate and ImportTemplate")
{
    auto unused = []() -> Catalog {
        FAIL("the catalog was read for a URL");
        return {};
    };
    TemplateRequest byUrl = parseCreateTemplate(
        "t", "https://example.org/t.tar.xz",
        {{"sha256", std::string(64, 'A')}, {"verify", std::string("checksum")}, {"force", true}}, unused);
    CHECK(byUrl.url == "https://example.org/t.tar.xz");
    CHECK(byUrl.sha256 == std::string(64, 'a'));
    CHECK(byUrl.verify == VerifyMode::Checksum);
    CHECK(byUrl.force);
    TemplateRequest byName = parseCreateTemplate("t", "debian", {{"arch", std::string("arm64")}}, testCatalog);
    REQUIRE(byName.distribution);
    CHECK(byName.architecture == "arm64");
    CHECK(errorCodeOf([&] { parseCreateTemplate("t", "nosuch", {}, testCatalog); }) == ErrorCode::NoSuchDistribution);
    CHECK(errorCodeOf([&] {
              parseCreateTemplate("t", "debian", {{"arch", std::string("s390x")}}, testCatalog);
          }) == ErrorCode::UnsupportedArchitecture);
    CHECK(errorCodeOf([&] { parseCreateTemplate("t", "ftp://example.org/t.tar", {}, unused); }) ==
          ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] { parseCreateTemplate("t", "file:///etc/shadow", {}, unused); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] {
              parseCreateTemplate("t", "https://a/b", {{"sha256", std::string("abc")}}, unused);
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] {
              parseCreateTemplate("t", "https://a/b", {{"sha256", std::string(64, 'g')}}, unused);
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] {
              parseCreateTemplate("t", "https://a/b", {{"verify", std::string("maybe")}}, unused);
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] {
              parseCreateTemplate("t", "https://a/b", {{"mirror", std::string("x")}}, unused);
          }) == ErrorCode::InvalidArgs);

    CHECK(parseImportTemplate("t", pipeReadEnd(), {}).archiveFd);
    CHECK(errorCodeOf([&] {
              parseImportTemplate("t", pipeReadEnd(), {{"verify", std::string("signature")}});
          }) == ErrorCode::NotSupported);
    CHECK(errorCodeOf([&] { parseImportTemplate("t", UniqueFd(open("/", O_RDONLY | O_CLOEXEC)), {}); }) ==
          ErrorCode::InvalidArgs);
    int pair[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    close(pair[1]);
    CHECK(errorCodeOf([&] { parseImportTemplate("t", UniqueFd(pair[0]), {}); }) == ErrorCode::InvalidArgs);

    Machines machines;
    machines.add("box").add("tmpl", MachineClass::Template);
    TemplateRequest request = std::move(byUrl);
    request.name = "new";
    CHECK_NOTHROW(checkTemplate(request, machines));
    request.name = "tmpl";
    request.force = false;
    CHECK(errorCodeOf([&] { checkTemplate(request, machines); }) == ErrorCode::AlreadyExists);
    request.force = true;
    CHECK_NOTHROW(checkTemplate(request, machines));
    request.name = "box";
    CHECK(errorCodeOf([&] { checkTemplate(request, machines); }) == ErrorCode::AlreadyExists);
    request.name = "tmpl";
    machines.hold("tmpl");
    CHECK(errorCodeOf([&] { checkTemplate(request, machines); }) == ErrorCode::Busy);
}

TEST_CASE("Clone")
{
    CloneRequest request = parseClone("src", "copy", {{"template", true}, {"settings", true}});
    CHECK(request.asTemplate);
    CHECK(request.copySettings);
    CHECK(errorCodeOf([] { parseClone("src", "copy", {{"template", std::string("yes")}}); }) == ErrorCode::InvalidArgs);
    Machines machines;
    CHECK(errorCodeOf([&] { checkClone(request, machines); }) == ErrorCode::NoSuchMachine);
    machines.add("src");
    CHECK_NOTHROW(checkClone(request, machines));
    machines.add("copy");
    CHECK(errorCodeOf([&] { checkClone(request, machines); }) == ErrorCode::AlreadyExists);
    machines.run("src");
    CHECK(errorCodeOf([&] { checkClone(parseClone("src", "other", {}), machines); }) == ErrorCode::Busy);
}

TEST_CASE("ExportMachine")
{
    auto pipeWriteEnd = [] {
        int fds[2];
        REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
        close(fds[0]);
        return UniqueFd(fds[1]);
    };
    CHECK(parseExport("box", pipeWriteEnd(), {}).compression == ArchiveCompression::Zstd);
    CHECK(parseExport("box", pipeWriteEnd(), {{"compression", std::string("gz")}}).compression ==
          ArchiveCompression::Gzip);
    CHECK(parseExport("box", pipeWriteEnd(), {{"compression", std::string("none")}}).compression ==
          ArchiveCompression::None);
    CHECK(errorCodeOf([&] {
              parseExport("box", pipeWriteEnd(), {{"compression", std::string("bz2")}});
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] {
              parseExport("box", pipeWriteEnd(), {{"level", std::uint32_t(3)}});
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] { parseExport("../box", pipeWriteEnd(), {}); }) == ErrorCode::InvalidName);
    // Not open for writing, or not a stream of bytes.
    CHECK(errorCodeOf([&] { parseExport("box", pipeReadEnd(), {}); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] { parseExport("box", UniqueFd(open("/", O_RDONLY | O_CLOEXEC)), {}); }) ==
          ErrorCode::InvalidArgs);
    int pair[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    close(pair[1]);
    CHECK(parseExport("box", UniqueFd(pair[0]), {}).archiveFd);

    ExportRequest request = parseExport("box", pipeWriteEnd(), {});
    Machines machines;
    CHECK(errorCodeOf([&] { checkExport(request, machines); }) == ErrorCode::NoSuchMachine);
    machines.add("box");
    CHECK_NOTHROW(checkExport(request, machines));
    machines.run("box");
    CHECK(errorCodeOf([&] { checkExport(request, machines); }) == ErrorCode::Busy);
    Machines held;
    held.add("box").hold("box");
    CHECK(errorCodeOf([&] { checkExport(request, held); }) == ErrorCode::Busy);
}

TEST_CASE("ImportTemplate's class: a template by default, or a container")
{
    CHECK_FALSE(parseImportTemplate("t", pipeReadEnd(), {}).asContainer);
    CHECK_FALSE(parseImportTemplate("t", pipeReadEnd(), {{"class", std::string("template")}}).asContainer);
    CHECK(parseImportTemplate("t", pipeReadEnd(), {{"class", std::string("container")}}).asContainer);
    CHECK(errorCodeOf([&] {
              parseImportTemplate("t", pipeReadEnd(), {{"class", std::string("vm")}});
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] {
              parseImportTemplate("t", pipeReadEnd(), {{"class", std::string("container")}, {"force", true}});
          }) == ErrorCode::InvalidArgs);
    // CreateTemplate makes templates only.
    CHECK(errorCodeOf([&] {
              parseCreateTemplate("t", "https://a/b.tar", {{"class", std::string("container")}}, testCatalog);
          }) == ErrorCode::InvalidArgs);
}

TEST_CASE("CopyTo and CopyFrom")
{
    CopyRequest into = parseCopy("box", CopyDirection::IntoMachine, "/srv/file", "/root/file", {{"replace", true}});
    CHECK(into.replace);
    CHECK(into.hostPath == "/srv/file");
    CHECK(into.machinePath == "/root/file");
    CHECK_FALSE(parseCopy("box", CopyDirection::OutOfMachine, "/srv/file", "/", {}).replace);
    for (const std::string path : {"", "relative", "/a/../b", "/a/./b", "/a//b", "/a/", "/a\nb"})
        CHECK(errorCodeOf([&] { parseCopy("box", CopyDirection::IntoMachine, path, "/root/x", {}); }) ==
              ErrorCode::InvalidArgs);
    // The destination must name something other than the root.
    CHECK(errorCodeOf([] { parseCopy("box", CopyDirection::IntoMachine, "/srv/file", "/", {}); }) ==
          ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { parseCopy("box", CopyDirection::OutOfMachine, "/", "/etc", {}); }) ==
          ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] {
              parseCopy("box", CopyDirection::IntoMachine, "/a", "/b", {{"force", true}});
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { parseCopy("../x", CopyDirection::IntoMachine, "/a", "/b", {}); }) == ErrorCode::InvalidName);

    Machines machines;
    CHECK(errorCodeOf([&] { checkCopy(into, machines); }) == ErrorCode::NoSuchMachine);
    machines.add("box").add("tmpl", MachineClass::Template);
    checkCopy(into, machines);
    CHECK(into.directory == "/var/lib/machines/box");
    CHECK_FALSE(into.running);
    // A stopped machine's copy holds it: another job's hold is Busy.
    machines.hold("box");
    CHECK(errorCodeOf([&] { checkCopy(into, machines); }) == ErrorCode::Busy);
    // A running container's copy is machined's, beside whatever else runs there.
    machines.run("box");
    checkCopy(into, machines);
    CHECK(into.running);
    // Templates give files, and take none.
    CopyRequest fromTemplate = parseCopy("tmpl", CopyDirection::OutOfMachine, "/srv/os-release", "/etc/os-release", {});
    CHECK_NOTHROW(checkCopy(fromTemplate, machines));
    CopyRequest intoTemplate = parseCopy("tmpl", CopyDirection::IntoMachine, "/srv/file", "/root/file", {});
    CHECK(errorCodeOf([&] { checkCopy(intoTemplate, machines); }) == ErrorCode::NotSupported);
}

TEST_CASE("machined's copy errors become the contract's")
{
    CopyRequest request = parseCopy("box", CopyDirection::IntoMachine, "/srv/file", "/root/file", {});
    CHECK(machinedCopyError(request, "System.Error.EEXIST", "File exists").code() == ErrorCode::AlreadyExists);
    CHECK(machinedCopyError(request, "System.Error.ENOENT", "No such file or directory").code() ==
          ErrorCode::InvalidArgs);
    CHECK(machinedCopyError(request, "org.freedesktop.machine1.NoSuchMachine", "gone").code() == ErrorCode::NotRunning);
    Error other = machinedCopyError(request, "System.Error.EIO", "Input/output error");
    CHECK(other.code() == ErrorCode::Failed);
    CHECK(std::string(other.what()).find("Input/output error") != std::string::npos);
    CHECK(std::string(other.what()).find("/root/file") != std::string::npos);
    // UnknownMethod is an old machined only when the ...WithFlags variant was asked for.
    CHECK(machinedCopyError(request, "org.freedesktop.DBus.Error.UnknownMethod", "").code() == ErrorCode::Failed);
    request.replace = true;
    CHECK(machinedCopyError(request, "org.freedesktop.DBus.Error.UnknownMethod", "").code() == ErrorCode::NotSupported);
}

TEST_CASE("Convert")
{
    std::vector<Recipe> recipes{shippedRecipe()};
    ConvertRequest request = parseConvert("box", "", {{"extras", std::vector<std::string>{"vim"}}}, recipes, {});
    CHECK(request.recipe.id == "bredos");
    CHECK_FALSE(request.steps.empty());
    CHECK(errorCodeOf([&] { parseConvert("box", "nosuch", {}, recipes, {}); }) == ErrorCode::NoSuchRecipe);
    for (const std::string package : {"", "-x", "a b", "a\nb", "--config=/etc"})
        CHECK(errorCodeOf([&] {
                  parseConvert("box", "bredos", {{"extras", std::vector<std::string>{package}}}, recipes, {});
              }) == ErrorCode::InvalidArgs);
    Machines machines;
    CHECK(errorCodeOf([&] { checkConvert(request, machines); }) == ErrorCode::NoSuchMachine);
    machines.add("box", MachineClass::Container, {{"ID", "debian"}});
    CHECK(errorCodeOf([&] { checkConvert(request, machines); }) == ErrorCode::NotSupported);
    Machines archMachines;
    archMachines.add("box").add("tmpl", MachineClass::Template);
    CHECK(checkConvert(request, archMachines).directory == "/var/lib/machines/box");
    request.machine = "tmpl";
    CHECK(errorCodeOf([&] { checkConvert(request, archMachines); }) == ErrorCode::NotSupported);
}

TEST_CASE("Start, Stop, Enable, Disable")
{
    Machines machines;
    machines.add("box").add("tmpl", MachineClass::Template);
    CHECK(checkStart(parseStart("box", {}), machines) == "/var/lib/machines/box");
    CHECK(errorCodeOf([&] { checkStart(parseStart("none", {}), machines); }) == ErrorCode::NoSuchMachine);
    CHECK(errorCodeOf([&] { checkStart(parseStart("tmpl", {}), machines); }) == ErrorCode::NotSupported);
    CHECK(errorCodeOf([&] { checkStop(parseStop("box", {}), machines); }) == ErrorCode::NotRunning);
    CHECK(errorCodeOf([&] { checkStop(parseStop("none", {}), machines); }) == ErrorCode::NoSuchMachine);
    machines.run("box");
    CHECK(errorCodeOf([&] { checkStart(parseStart("box", {}), machines); }) == ErrorCode::Busy);
    CHECK_NOTHROW(checkStop(parseStop("box", {{"force", true}}), machines));

    CHECK(checkEnable(parseMachine("box"), machines) == "/var/lib/machines/box");
    CHECK(errorCodeOf([&] { checkEnable(parseMachine("tmpl"), machines); }) == ErrorCode::NotSupported);
    CHECK(errorCodeOf([&] { checkEnable(parseMachine("none"), machines); }) == ErrorCode::NoSuchMachine);
    CHECK_NOTHROW(checkDisable(parseMachine("tmpl"), machines));
    CHECK(errorCodeOf([&] { checkDisable(parseMachine("none"), machines); }) == ErrorCode::NoSuchMachine);
}

TEST_CASE("Reboot, Kill and OpenLogin")
{
    Machines machines;
    machines.add("box").add("tmpl", MachineClass::Template);
    CHECK(errorCodeOf([&] { checkReboot(parseMachine("box"), machines); }) == ErrorCode::NotRunning);
    CHECK(errorCodeOf([&] { checkReboot(parseMachine("tmpl"), machines); }) == ErrorCode::NotRunning);
    CHECK(errorCodeOf([&] { checkReboot(parseMachine("none"), machines); }) == ErrorCode::NoSuchMachine);
    CHECK(errorCodeOf([&] { checkKill(parseKill("box", "all", SIGTERM), machines); }) == ErrorCode::NotRunning);
    CHECK(errorCodeOf([&] { checkKill(parseKill("none", "all", SIGTERM), machines); }) == ErrorCode::NoSuchMachine);
    CHECK(errorCodeOf([&] { checkOpenLogin(parseMachine("box"), machines); }) == ErrorCode::NotRunning);
    CHECK(errorCodeOf([&] { checkOpenLogin(parseMachine("tmpl"), machines); }) == ErrorCode::NotRunning);
    CHECK(errorCodeOf([&] { checkOpenLogin(parseMachine("none"), machines); }) == ErrorCode::NoSuchMachine);
    machines.run("box");
    CHECK_NOTHROW(checkOpenLogin(parseMachine("box"), machines));
    CHECK_NOTHROW(checkReboot(parseMachine("box"), machines));
    CHECK_NOTHROW(checkKill(parseKill("box", "leader", SIGKILL), machines));
    CHECK_NOTHROW(checkKill(parseKill("box", "all", SIGRTMAX), machines));
    machines.hold("box");
    CHECK(errorCodeOf([&] { checkReboot(parseMachine("box"), machines); }) == ErrorCode::Busy);
    // A hung start or stop is what Kill ends.
    CHECK_NOTHROW(checkKill(parseKill("box", "all", SIGKILL), machines));
    // A login does not change the machine.
    CHECK_NOTHROW(checkOpenLogin(parseMachine("box"), machines));

    for (int signal : {0, -1, SIGRTMAX + 1, 1 << 30})
        CHECK(errorCodeOf([&] { parseKill("box", "all", signal); }) == ErrorCode::InvalidArgs);
    for (const std::string whom : {"", "main", "control", "Leader", "all "})
        CHECK(errorCodeOf([&] { parseKill("box", whom, SIGTERM); }) == ErrorCode::InvalidArgs);
    for (const auto& name : hostileNames)
        CHECK(errorCodeOf([&] { parseKill(name, "all", SIGTERM); }) == ErrorCode::InvalidName);
    KillRequest request = parseKill("box", "leader", SIGINT);
    CHECK(request.name == "box");
    CHECK(request.whom == "leader");
    CHECK(request.signal == SIGINT);
}

TEST_CASE("Bind and Unbind")
{
    BindRequest request = parseBind("box", "/srv/data", "", {{"read_only", true}, {"mkdir", true}});
    CHECK(request.bind.source == "/srv/data");
    CHECK(request.bind.destination == "/srv/data");
    CHECK(request.bind.readOnly);
    CHECK(request.makeSource);
    CHECK(parseBind("box", "/srv/data", "/mnt", {}).bind.destination == "/mnt");
    for (const std::string path : {"", "srv", "/srv/../etc", "/srv/", "/a\\b", "/a\nb", "/trailing ", "/a//b"}) {
        CHECK(errorCodeOf([&] { parseBind("box", path, "/mnt", {}); }) == ErrorCode::InvalidArgs);
        CHECK(errorCodeOf([&] { parseBind("box", "/srv", path.empty() ? "x" : path, {}); }) == ErrorCode::InvalidArgs);
        CHECK(errorCodeOf([&] { parseUnbind("box", path); }) == ErrorCode::InvalidArgs);
    }
    Machines machines;
    machines.add("box").add("tmpl", MachineClass::Template);
    CHECK_NOTHROW(checkBind(request, machines));
    CHECK_NOTHROW(checkUnbind(parseUnbind("box", "/mnt"), machines));
    CHECK(errorCodeOf([&] { checkUnbind(parseUnbind("none", "/mnt"), machines); }) == ErrorCode::NoSuchMachine);
    request.name = "tmpl";
    CHECK(errorCodeOf([&] { checkBind(request, machines); }) == ErrorCode::NotSupported);
    request.name = "none";
    CHECK(errorCodeOf([&] { checkBind(request, machines); }) == ErrorCode::NoSuchMachine);
    request.name = "box";
    machines.hold("box");
    CHECK(errorCodeOf([&] { checkBind(request, machines); }) == ErrorCode::Busy);
}

TEST_CASE("SetNetwork")
{
    NetworkRequest veth = parseSetNetwork("box", {});
    CHECK(veth.hostSide.mode == "veth");
    REQUIRE(veth.containerSide);
    CHECK(veth.containerSide->dhcp);
    NetworkRequest fixed = parseSetNetwork("box", {{"mode", std::string("bridge")},
                                                   {"bridge", std::string("br0")},
                                                   {"address", std::string("10.0.0.2/24")},
                                                   {"gateway", std::string("10.0.0.1")},
                                                   {"dns", std::vector<std::string>{"10.0.0.1"}}});
    CHECK(fixed.hostSide.bridge == "br0");
    REQUIRE(fixed.containerSide);
    CHECK(fixed.containerSide->address == "10.0.0.2/24");
    CHECK_FALSE(parseSetNetwork("box", {{"mode", std::string("host")}}).containerSide);
    const std::vector<OptionMap> refused{
        {{"mode", std::string("private")}},
        {{"mode", std::string("bridge")}},
        {{"bridge", std::string("br0")}},
        {{"mode", std::string("bridge")}, {"bridge", std::string("a-very-long-bridge-name")}},
        {{"mode", std::string("bridge")}, {"bridge", std::string("br/0")}},
        {{"mode", std::string("host")}, {"address", std::string("10.0.0.2/24")}},
        {{"address", std::string("not an address")}},
        {{"dns", std::string("10.0.0.1")}},
        {{"dhcp", std::string("yes")}},
        {{"route", std::string("x")}},
    };
    for (const auto& settings : refused)
        CHECK(errorCodeOf([&] { parseSetNetwork("box", settings); }) == ErrorCode::InvalidArgs);
    Machines machines;
    machines.add("box").add("tmpl", MachineClass::Template);
    CHECK_NOTHROW(checkSetNetwork(veth, machines));
    veth.name = "tmpl";
    CHECK(errorCodeOf([&] { checkSetNetwork(veth, machines); }) == ErrorCode::NotSupported);
}

TEST_CASE("Run and AddUser")
{
    RunRequest run = parseRun(
        "box", {"ls", "-l"}, {}, {}, {},
        {{"user", std::string("alice")}, {"env", std::vector<std::string>{"A=1"}}, {"cwd", std::string("/tmp")}});
    CHECK(run.machine == "box");
    CHECK(run.command.user == "alice");
    CHECK(run.command.workingDirectory == "/tmp");
    CHECK(errorCodeOf([] { parseRun("box", {}, {}, {}, {}, {}); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { parseRun("box", {""}, {}, {}, {}, {}); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { parseRun("box", {std::string("a\0b", 3)}, {}, {}, {}, {}); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] {
              parseRun("box", {"ls"}, {}, {}, {}, {{"cwd", std::string("tmp")}});
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] {
              parseRun("box", {"ls"}, {}, {}, {}, {{"user", std::string("-root")}});
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] {
              parseRun("box", {"ls"}, {}, {}, {}, {{"env", std::vector<std::string>{"1A=x"}}});
          }) == ErrorCode::InvalidArgs);

    AddUserRequest user = parseAddUser(
        "box", "alice", {{"groups", std::vector<std::string>{"wheel", "audio"}}, {"shell", std::string("/bin/bash")}});
    CHECK(user.groups == std::vector<std::string>{"wheel", "audio"});
    CHECK(user.shell == "/bin/bash");
    CHECK(user.addition.command.front() == "useradd");
    for (const auto& name : std::vector<std::string>{"", "1234", "-x", "a:b", std::string(40, 'a'), "\xff"})
        CHECK(errorCodeOf([&] { parseAddUser("box", name, {}); }) == ErrorCode::InvalidName);
    CHECK(errorCodeOf([] {
              parseAddUser("box", "alice", {{"shell", std::string("bash")}});
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] {
              parseAddUser("box", "alice", {{"groups", std::vector<std::string>{"a b"}}});
          }) == ErrorCode::InvalidArgs);

    Machines machines;
    machines.add("box").add("tmpl", MachineClass::Template);
    RunTarget stopped = checkRun("box", machines);
    CHECK(stopped.directory == "/var/lib/machines/box");
    CHECK_FALSE(stopped.running);
    machines.run("box");
    CHECK(checkRun("box", machines).running);
    CHECK(errorCodeOf([&] { checkRun("tmpl", machines); }) == ErrorCode::NotSupported);
    CHECK(errorCodeOf([&] { checkRun("none", machines); }) == ErrorCode::NoSuchMachine);
}

TEST_CASE("Remove and Rename")
{
    Machines machines;
    machines.add("box").add("other");
    CHECK_NOTHROW(checkRemove(parseMachine("box"), machines));
    CHECK(errorCodeOf([&] { checkRemove(parseMachine("none"), machines); }) == ErrorCode::NoSuchMachine);
    CHECK_NOTHROW(checkRename(parseRename("box", "new"), machines));
    CHECK(errorCodeOf([&] { checkRename(parseRename("box", "other"), machines); }) == ErrorCode::AlreadyExists);
    CHECK(errorCodeOf([&] { checkRename(parseRename("none", "new"), machines); }) == ErrorCode::NoSuchMachine);
    machines.hold("new");
    CHECK(errorCodeOf([&] { checkRename(parseRename("box", "new"), machines); }) == ErrorCode::Busy);
    machines.run("box");
    CHECK(errorCodeOf([&] { checkRemove(parseMachine("box"), machines); }) == ErrorCode::Busy);
    CHECK(errorCodeOf([&] { checkRename(parseRename("box", "fresh"), machines); }) == ErrorCode::Busy);
    machines.hold("other");
    CHECK(errorCodeOf([&] { checkRemove(parseMachine("other"), machines); }) == ErrorCode::Busy);
}
