#include "container-run.h"
#include "container-user.h"
#include "error-code.h"
#include "errors.h"
#include "line-splitter.h"
#include "nspawn-command.h"

#include "catch.h"

using namespace bred;
using bred::test::errorCodeOf;

namespace {

} // namespace

TEST_CASE("useradd gets every value checked and nothing a shell could split")
{
    auto addition = userAddition("carol", std::string("$6$salt$hash"), std::vector<std::string>{"users", "audio"},
                                 std::string("/bin/bash"));
    // The hash goes to chpasswd on standard input, never on the command line.
    CHECK(addition.command == std::vector<std::string>{"/bin/sh", "-c", "useradd \"$@\" && exec chpasswd --encrypted",
                                                       "sh", "--create-home", "--groups", "users,audio", "--shell",
                                                       "/bin/bash", "--", "carol"});
    CHECK(addition.input == "carol:$6$salt$hash\n");
    auto plain = userAddition("dave", std::nullopt, std::nullopt, std::nullopt);
    CHECK(plain.command == std::vector<std::string>{"useradd", "--create-home", "--", "dave"});
    CHECK(plain.input.empty());
    CHECK(errorCodeOf([] { userAddition("ok", std::string("$6$a\nroot:x"), {}, {}); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { userAddition("ok", {}, {}, std::string("/bin/sh\r")); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { userAddition("ok", {}, std::vector<std::string>{"wheel\n"}, {}); }) ==
          ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { userAddition("0bad", {}, {}, {}); }) == ErrorCode::InvalidName);
    CHECK(errorCodeOf([] { userAddition("-rf", {}, {}, {}); }) == ErrorCode::InvalidName);
    CHECK(errorCodeOf([] { userAddition("ok", std::string("secret"), {}, {}); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { userAddition("ok", std::string("$6$a:b"), {}, {}); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { userAddition("ok", {}, std::vector<std::string>{"a,b"}, {}); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { userAddition("ok", {}, {}, std::string("bin/sh")); }) == ErrorCode::InvalidArgs);
    CHECK_NOTHROW(userAddition("ok", std::string("!"), {}, {}));
}

TEST_CASE("useradd's exit statuses become errors a person can act on")
{
    CHECK_NOTHROW(checkUserAddStatus(0, "carol", "web", {}));
    CHECK(errorCodeOf([] { checkUserAddStatus(9, "carol", "web", {}); }) == ErrorCode::AlreadyExists);
    CHECK(errorCodeOf([] { checkUserAddStatus(6, "carol", "web", {}); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([] { checkUserAddStatus(127, "carol", "web", {}); }) == ErrorCode::NotSupported);
    try {
        checkUserAddStatus(1, "carol", "web", {"useradd: cannot lock /etc/passwd"});
        FAIL("no error");
    } catch (const Error& error) {
        CHECK(std::string(error.what()).find("cannot lock") != std::string::npos);
    }
}

TEST_CASE("commands to run are checked before anything runs")
{
    ContainerCommand command;
    command.argv = {"true"};
    CHECK_NOTHROW(validateContainerCommand(command));
    command.workingDirectory = "~";
    CHECK_NOTHROW(validateContainerCommand(command));
    for (const char* bad : {"relative", "/a/../b", "/a/./b"}) {
        command.workingDirectory = bad;
        CHECK(errorCodeOf([&] { validateContainerCommand(command); }) == ErrorCode::InvalidArgs);
    }
    command.workingDirectory.clear();
    command.environment = {"NOEQUALS"};
    CHECK(errorCodeOf([&] { validateContainerCommand(command); }) == ErrorCode::InvalidArgs);
    command.environment = {"A=b=c"};
    CHECK_NOTHROW(validateContainerCommand(command));
    command.user = "bad:user";
    CHECK(errorCodeOf([&] { validateContainerCommand(command); }) == ErrorCode::InvalidArgs);
    command.user.clear();
    command.argv.clear();
    CHECK(errorCodeOf([&] { validateContainerCommand(command); }) == ErrorCode::InvalidArgs);
}

TEST_CASE("the enabled unit file runs the same command as the transient unit")
{
    auto service = containerService("web", "/var/lib/machines/web");
    auto text = containerUnitFile(service, "/var/lib/machines/web");
    std::string execStart;
    for (const auto& word : service.command)
        execStart += (execStart.empty() ? "" : " ") + ("\"" + word + "\"");
    CHECK(text.find("ExecStart=" + execStart + "\n") != std::string::npos);
    for (const char* line : {"Type=notify\n", "KillMode=mixed\n", "Delegate=yes\n", "Slice=machine.slice\n",
                             "RestartForceExitStatus=133\n", "WantedBy=machines.target\n"})
        CHECK(text.find(line) != std::string::npos);
    // Confined as systemd-nspawn@.service, less the devices it keeps for --image= only.
    for (const char* line :
         {"DevicePolicy=closed\n", "DeviceAllow=/dev/net/tun rwm\n", "DeviceAllow=char-pts rw\n", "TasksMax=16384\n"})
        CHECK(text.find(line) != std::string::npos);
    for (const char* device : {"block-loop", "loop-control", "block-blkext", "device-mapper", "/dev/mapper"})
        CHECK(text.find(device) == std::string::npos);
    // systemd would expand these in ExecStart= words.
    CHECK(literalExecWord("a$b$$c") == "a$$b$$$$c");
    auto odd = containerUnitFile(containerService("x", "/srv/100% \"$HOME\""), "/srv/100% \"$HOME\"");
    CHECK(odd.find("\"--directory=/srv/100%% \\\"$$HOME\\\"\"") != std::string::npos);
}

TEST_CASE("machinectl's unit is confined as ours: its loop and device-mapper devices are dropped")
{
    CHECK(machinectlUnitName("web") == "systemd-nspawn@web.service");
    auto dropIn = machinectlUnitDropIn(NspawnConfinement{});
    auto unitFile = containerUnitFile(containerService("web", "/var/lib/machines/web"), "/var/lib/machines/web");
    // The empty DeviceAllow= comes first and resets the template's list.
    std::string devices = "DevicePolicy=closed\nDeviceAllow=\nDeviceAllow=/dev/net/tun rwm\nDeviceAllow=char-pts rw\n";
    CHECK(dropIn.find("[Service]\n") != std::string::npos);
    CHECK(dropIn.find(devices) != std::string::npos);
    CHECK(unitFile.find(devices) != std::string::npos);
    for (const char* line :
         {"KillMode=mixed\n", "Delegate=yes\n", "Slice=machine.slice\n", "TasksMax=16384\n", "LimitNOFILE=524288\n"}) {
        CHECK(dropIn.find(line) != std::string::npos);
        CHECK(unitFile.find(line) != std::string::npos);
    }
    CHECK(dropIn.find("ExecStart") == std::string::npos);
}

TEST_CASE("output lines are split at newlines and capped in length")
{
    std::vector<std::string> lines;
    LineSplitter splitter([&](const std::string& line) { lines.push_back(line); });
    constexpr std::size_t cap = LineSplitter::maxLineBytes;

    SECTION("many short lines, split across reads")
    {
        std::string text;
        for (int i = 0; i < 10000; ++i)
            text += "line " + std::to_string(i) + "\n";
        for (std::size_t at = 0; at < text.size(); at += 7)
            splitter.feed(std::string_view(text).substr(at, 7));
        splitter.flush();
        REQUIRE(lines.size() == 10000);
        CHECK(lines.front() == "line 0");
        CHECK(lines.back() == "line 9999");
    }
    SECTION("no newline ever: pieces of the cap, the rest at the end")
    {
        std::string chunk(1000, 'x');
        for (int i = 0; i < 100; ++i)
            splitter.feed(chunk);
        CHECK(lines.size() == 100000 / cap);
        splitter.flush();
        REQUIRE(lines.size() == 100000 / cap + 1);
        for (std::size_t i = 0; i + 1 < lines.size(); ++i)
            CHECK(lines[i].size() == cap);
        CHECK(lines.back().size() == 100000 % cap);
    }
    SECTION("a huge single line in one read")
    {
        splitter.feed(std::string(10 * cap + 5, 'y') + "\nafter\n");
        splitter.flush();
        REQUIRE(lines.size() == 12);
        CHECK(lines[9].size() == cap);
        CHECK(lines[10] == "yyyyy");
        CHECK(lines[11] == "after");
    }
    SECTION("a line of exactly the cap is one line, also when its newline comes later")
    {
        splitter.feed(std::string(cap, 'a') + "\n");
        splitter.feed(std::string(cap, 'b'));
        splitter.feed("\nc\n\n");
        splitter.flush();
        CHECK(lines == std::vector<std::string>{std::string(cap, 'a'), std::string(cap, 'b'), "c", ""});
    }
    SECTION("a multi-byte character cut at the cap stays bytes, passed on whole")
    {
        std::string text(cap - 1, 'z');
        text += "\xc3\xa9 end\n";
        splitter.feed(text);
        splitter.flush();
        REQUIRE(lines.size() == 2);
        CHECK(lines[0].size() == cap);
        CHECK(lines[0].back() == '\xc3');
        CHECK(lines[1] == "\xa9 end");
    }
}

TEST_CASE("the export mount's unit name is systemd's escaping of its path")
{
    CHECK(unixExportMountUnitName("boot1") == "run-systemd-nspawn-unix\\x2dexport-boot1.mount");
    CHECK(unixExportMountUnitName("my-box.lan") == "run-systemd-nspawn-unix\\x2dexport-my\\x2dbox.lan.mount");
}
