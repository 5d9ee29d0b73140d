#include "bus-names.h"
#include "errors.h"
#include "names.h"

#include <catch2/catch.hpp>
#include <set>

using namespace bred;

TEST_CASE("machine names follow the hostname rules nspawn requires")
{
    for (const char* good : {"a", "template", "web-1", "deb.12", "A.b-c.D", "0", "x123"})
        CHECK(isValidMachineName(good));
    for (const char* bad : {"", ".", ".hidden", "a..b", "a.", "-a", "a-", "a.-b", "a_b", "a b", "a/b", "ü", "..",
                            "a.b-"})
        CHECK_FALSE(isValidMachineName(bad));
    CHECK(isValidMachineName(std::string(64, 'a')));
    CHECK_FALSE(isValidMachineName(std::string(65, 'a')));
}

TEST_CASE("user names follow the strict POSIX-ish rule")
{
    for (const char* good : {"alice", "_svc", "a1", "web-admin", "A_b"})
        CHECK(isValidUserName(good));
    for (const char* bad : {"", "1alice", "123", "-x", "a.b", "a b", "root:", "é"})
        CHECK_FALSE(isValidUserName(bad));
    CHECK(isValidUserName(std::string(31, 'a')));
    CHECK_FALSE(isValidUserName(std::string(32, 'a')));
}

TEST_CASE("every domain error has its own D-Bus name and maps back")
{
    std::set<std::string_view> names;
    for (int i = 0; i <= static_cast<int>(ErrorCode::Failed); ++i) {
        auto code = static_cast<ErrorCode>(i);
        auto name = dbusErrorName(code);
        CHECK(names.insert(name).second);
        CHECK(errorCodeFromDbusName(name) == code);
    }
    CHECK(dbusErrorName(ErrorCode::Busy) == "org.bredos.machine1.Error.Busy");
    CHECK(dbusErrorName(ErrorCode::AccessDenied) == "org.freedesktop.DBus.Error.AccessDenied");
    CHECK(errorCodeFromDbusName("org.example.Unknown") == ErrorCode::Failed);
}

TEST_CASE("machine object paths escape names as sd_bus_path_encode does")
{
    CHECK(bus::machinePath("deb") == "/org/bredos/machine1/machine/deb");
    CHECK(bus::machinePath("web-1.x") == "/org/bredos/machine1/machine/web_2d1_2ex");
    CHECK(bus::jobPath(42) == "/org/bredos/machine1/job/42");
}

TEST_CASE("absolute, normalized paths")
{
    for (const char* good : {"/", "/srv", "/srv/data", "/home/carol/.config"})
        CHECK(isAbsoluteNormalPath(good));
    for (const char* bad : {"", "srv", "srv/data", "/srv/", "/srv//data", "//srv", "/srv/../etc", "/..", "/srv/.",
                            "/./srv", "/a\nb"})
        CHECK_FALSE(isAbsoluteNormalPath(bad));
    CHECK_FALSE(isAbsoluteNormalPath(std::string_view("/a\0b", 4)));
}
