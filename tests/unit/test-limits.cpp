// Resource limits: SetLimits's request, the settings file that keeps them,
// what systemd is given, and the client's options and status rows.
#include "command-line.h"
#include "error-code.h"
#include "errors.h"
#include "limit-values.h"
#include "machine-requests.h"
#include "nspawn-command.h"
#include "nspawn-settings.h"

#include "catch.h"

#include <set>

using namespace bred;
using bred::test::errorCodeOf;

namespace {

class OneMachine final : public MachineStateView {
public:
    explicit OneMachine(MachineClass machineClass, bool held = false) : held_(held)
    {
        info_.name = "web";
        info_.machineClass = machineClass;
    }
    const MachineInfo* find(const std::string& name) const override { return name == "web" ? &info_ : nullptr; }
    bool isRunning(const std::string&) const override { return false; }
    bool isHeld(const std::string&) const override { return held_; }

private:
    MachineInfo info_;
    bool held_;
};

std::string invalidArgsMessage(const std::function<void()>& call)
{
    try {
        call();
    } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::InvalidArgs);
        return error.what();
    }
    FAIL("no error");
    return {};
}

} // namespace

TEST_CASE("SetLimits takes the six limits by their types, and 0 to unset one")
{
    auto request = parseSetLimits(
        "web",
        {{"MemoryMax", std::uint64_t{512} << 20}, {"CPUQuota", std::uint32_t{150}}, {"TasksMax", std::uint64_t{0}}});
    CHECK(request.given == std::map<std::string, std::uint64_t>{
                               {"MemoryMax", std::uint64_t{512} << 20}, {"CPUQuota", 150}, {"TasksMax", 0}});
    CHECK(parseSetLimits("web", {}).given.empty());

    ResourceLimits before;
    before.tasksMax = 100;
    before.ioWeight = 300;
    ResourceLimits after = appliedLimits(before, request);
    CHECK(after.memoryMax == std::uint64_t{512} << 20);
    CHECK(after.cpuQuota == 150);
    CHECK(after.tasksMax == 0);   // unset
    CHECK(after.ioWeight == 300); // not given: as it was
}

TEST_CASE("SetLimits refuses unknown keys, other types and values out of range")
{
    CHECK(invalidArgsMessage([] {
              parseSetLimits("web", {{"MemoryLimit", std::uint64_t{1}}});
          })
              .find("Unknown option 'MemoryLimit'; this method takes: CPUQuota, CPUWeight, IOWeight, MemoryHigh, "
                    "MemoryMax, TasksMax.") == 0);
    CHECK(invalidArgsMessage([] {
              parseSetLimits("web", {{"MemoryMax", std::string("2G")}});
          }) == "Option 'MemoryMax' must be an unsigned 64-bit number (t), not 's'.");
    CHECK(invalidArgsMessage([] {
              parseSetLimits("web", {{"CPUQuota", std::uint64_t{50}}});
          }) == "Option 'CPUQuota' must be an unsigned 32-bit number (u), not 't'.");
    CHECK(invalidArgsMessage([] {
              parseSetLimits("web", {{"TasksMax", OtherOptionType{"i"}}});
          }) == "Option 'TasksMax' must be an unsigned 64-bit number (t), not 'i'.");
    CHECK(invalidArgsMessage([] {
              parseSetLimits("web", {{"CPUWeight", std::uint64_t{10001}}});
          }).find("CPUWeight must be 1 to 10000") == 0);
    CHECK(invalidArgsMessage([] {
              parseSetLimits("web", {{"CPUQuota", std::uint32_t{1000001}}});
          }).find("CPUQuota is a percentage of one CPU") == 0);
    CHECK(invalidArgsMessage([] {
              parseSetLimits("web", {{"MemoryMax", UINT64_MAX}});
          }).find("MemoryMax must be a number below") == 0);
    CHECK(parseSetLimits("web", {{"IOWeight", std::uint64_t{10000}}, {"CPUWeight", std::uint64_t{1}}}).given.size() ==
          2);
    CHECK(errorCodeOf([] { parseSetLimits("-web", {}); }) == ErrorCode::InvalidName);
}

TEST_CASE("limits are set on containers no job holds")
{
    LimitsRequest request{"web", {{"MemoryMax", 1}}};
    checkSetLimits(request, OneMachine(MachineClass::Container));
    CHECK(errorCodeOf([&] { checkSetLimits(request, OneMachine(MachineClass::Template)); }) == ErrorCode::NotSupported);
    CHECK(errorCodeOf([&] { checkSetLimits(request, OneMachine(MachineClass::Container, true)); }) == ErrorCode::Busy);
    CHECK(errorCodeOf([&] {
              checkSetLimits(LimitsRequest{"db", {}}, OneMachine(MachineClass::Container));
          }) == ErrorCode::NoSuchMachine);
}

TEST_CASE("the settings file keeps the limits in a section of ours, and every other line")
{
    const std::string original = "# mine\n[Exec]\nPrivateUsers=no\n\n[Network]\nVirtualEthernet=yes\n";
    ResourceLimits limits;
    limits.memoryMax = 1073741824;
    limits.cpuQuota = 50;
    limits.tasksMax = 64;
    NspawnSettingsEditor editor(original);
    editor.setLimits(limits);
    CHECK(editor.text() == original + "\n[X-BredMachined-Limits]\nMemoryMax=1073741824\nCPUQuota=50\nTasksMax=64\n");
    auto parsed = parseNspawnSettings(editor.text());
    CHECK(parsed.limits == limits);
    CHECK(parsed.network.mode == "veth");

    // Changed in place, and gone when none is set.
    limits.cpuQuota = 0;
    NspawnSettingsEditor again(editor.text());
    again.setLimits(limits);
    CHECK(parseNspawnSettings(again.text()).limits == limits);
    NspawnSettingsEditor cleared(again.text());
    cleared.setLimits({});
    CHECK(cleared.text().find("X-BredMachined") == std::string::npos);
    CHECK(cleared.text().find("# mine\n[Exec]\nPrivateUsers=no\n") == 0);

    // A line that is not a number sets nothing.
    CHECK(parseNspawnSettings("[X-BredMachined-Limits]\nMemoryMax=2G\nTasksMax=10\n").limits.memoryMax == 0);
    CHECK(parseNspawnSettings("[X-BredMachined-Limits]\nMemoryMax=2G\nTasksMax=10\n").limits.tasksMax == 10);
}

TEST_CASE("units get the limits: lines for unit files and drop-ins, properties for systemd's API")
{
    ResourceLimits limits;
    limits.memoryMax = 536870912;
    limits.cpuQuota = 250;
    limits.ioWeight = 50;
    limits.tasksMax = 200;
    auto unitFile =
        containerUnitFile(containerService("web", "/var/lib/machines/web", limits), "/var/lib/machines/web");
    for (const char* line : {"MemoryMax=536870912\n", "CPUQuota=250%\n", "IOWeight=50\n", "TasksMax=200\n"})
        CHECK(unitFile.find(line) != std::string::npos);
    CHECK(unitFile.find("TasksMax=16384") == std::string::npos);
    // Unset: stated as systemd's defaults, over what SetUnitProperties left in /run.
    CHECK(unitFile.find("MemoryHigh=infinity\n") != std::string::npos);
    CHECK(unitFile.find("CPUWeight=\n") != std::string::npos);
    NspawnConfinement confinement;
    confinement.limits = limits;
    CHECK(machinectlUnitDropIn(confinement)
              .find("MemoryMax=536870912\nMemoryHigh=infinity\nCPUQuota=250%\nCPUWeight=\nIOWeight=50\n") !=
          std::string::npos);

    using Properties = std::vector<std::pair<std::string, std::uint64_t>>;
    CHECK(resourceLimitProperties(limits, 16384) == Properties{{"MemoryMax", 536870912},
                                                               {"MemoryHigh", UINT64_MAX},
                                                               {"CPUQuotaPerSecUSec", 2500000},
                                                               {"CPUWeight", UINT64_MAX},
                                                               {"IOWeight", 50},
                                                               {"TasksMax", 200}});
    CHECK(resourceLimitProperties({}, 16384).back() == std::pair<std::string, std::uint64_t>{"TasksMax", 16384});
}

TEST_CASE("limit's options: sizes, percentages, counts and none")
{
    using namespace bred::client;
    auto option = [](const std::string& name) {
        for (const auto& candidate : limitOptions())
            if (name == candidate.option)
                return candidate;
        FAIL("no option " + name);
        return limitOptions().front();
    };
    CHECK(parseLimitValue(option("memory"), "512M") == 536870912);
    CHECK(parseLimitValue(option("memory"), "2G") == 2147483648);
    CHECK(parseLimitValue(option("memory"), "1.5g") == 1610612736);
    CHECK(parseLimitValue(option("memory"), "4096") == 4096);
    CHECK(parseLimitValue(option("memory"), "none") == 0);
    CHECK(parseLimitValue(option("cpu"), "50%") == 50);
    CHECK(parseLimitValue(option("cpu"), "200") == 200);
    CHECK(parseLimitValue(option("tasks"), "none") == 0);
    for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{{"memory", "2X"},
                                                                                     {"memory", "-1"},
                                                                                     {"memory", "1..5G"},
                                                                                     {"memory", ""},
                                                                                     {"cpu", "50%%"},
                                                                                     {"cpu", "4294967296"},
                                                                                     {"tasks", "1k"},
                                                                                     {"cpu-weight", "ten"}})
        CHECK_THROWS_AS(parseLimitValue(option(name), text), UsageError);

    auto line = parseCommandLine({"limit", "web", "--memory=1G", "--cpu", "none"}, false);
    auto given = limitsOfCommandLine(line);
    REQUIRE(given.size() == 2);
    CHECK(std::string(given[0].first->key) == "MemoryMax");
    CHECK(given[0].second == 1073741824);
    CHECK(std::string(given[1].first->key) == "CPUQuota");
    CHECK(given[1].second == 0);
    CHECK_THROWS_AS(limitsOfCommandLine(parseCommandLine({"limit", "web"}, false)), UsageError);
}

TEST_CASE("status shows each limit next to the use")
{
    using namespace bred::client;
    using Rows = std::vector<std::vector<std::string>>;
    CHECK(limitRows({}, {}).empty());
    CHECK(limitRows({{"MemoryMax", 536870912}, {"CPUQuota", 50}, {"IOWeight", 200}},
                    {std::uint64_t{104857600}, std::uint64_t{12}, std::uint64_t{2500000000}}) ==
          Rows{{"Memory:", "100.0 MiB (max 512.0 MiB)"},
               {"CPU:", "2.5s used (quota 50%)"},
               {"Tasks:", "12"},
               {"IO weight:", "200"}});
    CHECK(limitRows({{"TasksMax", 30}, {"CPUWeight", 500}}, {}) == Rows{{"CPU:", "weight 500"}, {"Tasks:", "max 30"}});
}
