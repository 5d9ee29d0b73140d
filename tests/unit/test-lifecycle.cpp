#include "boot-enablement.h"
#include "container-lifecycle.h"
#include "nspawn-command.h"
#include "temp-dir.h"

#include "catch.h"

#include <filesystem>

using namespace bred;

TEST_CASE("Start starts a transient unit of the container's service while Enable wrote no unit file")
{
    test::TempDir units;
    BootEnablement boot(units.path());
    auto start = containerStart(boot, "web", "/var/lib/machines/web", {});
    CHECK(start.unit == containerUnitName("web"));
    REQUIRE(start.transient);
    CHECK(start.transient->command == containerService("web", "/var/lib/machines/web").command);
}

TEST_CASE("Start starts the unit file Enable wrote, the same unit as at boot, and a transient unit once it is gone")
{
    test::TempDir units;
    BootEnablement boot(units.path());
    boot.writeUnitFile("web", "/var/lib/machines/web", {});
    REQUIRE(boot.hasUnitFile("web"));
    auto start = containerStart(boot, "web", "/var/lib/machines/web", {});
    CHECK(start.unit == containerUnitName("web"));
    CHECK_FALSE(start.transient);
    // Another machine's file is not this one's.
    CHECK(containerStart(boot, "db", "/var/lib/machines/db", {}).transient);

    boot.removeUnitFile("web");
    CHECK(containerStart(boot, "web", "/var/lib/machines/web", {}).transient);
}

TEST_CASE("Disable disables our unit file and machinectl's link, whichever exist")
{
    test::TempDir units;
    BootEnablement boot(units.path());
    CHECK(boot.unitsToDisable("web").empty());
    boot.writeUnitFile("web", "/var/lib/machines/web", {});
    CHECK(boot.unitsToDisable("web") == std::vector<std::string>{containerUnitName("web")});
    std::filesystem::create_directories(units.path() / "machines.target.wants");
    std::filesystem::create_symlink("/lib/systemd/system/systemd-nspawn@.service",
                                    units.path() / "machines.target.wants" / machinectlUnitName("web"));
    CHECK(boot.isEnabledByMachinectl("web"));
    CHECK(boot.unitsToDisable("web") == std::vector<std::string>{containerUnitName("web"), machinectlUnitName("web")});
}

TEST_CASE("Stop stops the unit machined names for the machine, whoever started it, and ours otherwise")
{
    CHECK(unitToStop("web", "systemd-nspawn@web.service") == "systemd-nspawn@web.service");
    CHECK(unitToStop("web", containerUnitName("web")) == containerUnitName("web"));
    CHECK(unitToStop("web", "") == containerUnitName("web"));
}
