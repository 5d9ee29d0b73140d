#include "bus-names.h"
#include "errors.h"
#include "names.h"

#include "catch.h"
#include <set>

using namespace bred;

TEST_CASE("machine names follow the hostname rules nspawn requires")
{
    for (const char* good : {"a", "template", "web-1", "deb.12", "A.b-c.D", "0", "x123"})
        CHECK(isValidMachineName(good));
    for (const char* bad :
         {"", ".", ".hidden", "a..b", "a.", "-a", "a-", "a.-b", "a_b", "a b", "a/b", "ü", "..", "a.b-"})
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
    for (const char* bad :
         {"", "srv", "srv/data", "/srv/", "/srv//data", "//srv", "/srv/../etc", "/..", "/srv/.", "/./srv", "/a\nb"})
        CHECK_FALSE(isAbsoluteNormalPath(bad));
    CHECK_FALSE(isAbsoluteNormalPath(std::string_view("/a\0b", 4)));
}

TEST_CASE("no control characters in paths")
{
    for (const char* bad : {"/a\rb", "/a\tb", "/a\x7f", "/a\x1b[0m", "/srv/x\r", "/a\vb", "/a\fb"})
        CHECK_FALSE(isAbsoluteNormalPath(bad));
    CHECK(hasControlCharacter(std::string_view("a\0b", 3)));
    for (const char* bad : {"\n", "\r", "\t", "\x01", "\x1f", "\x7f", "br0\n[Files]\nBind=/:/host"})
        CHECK(hasControlCharacter(bad));
    for (const char* good : {"", "plain text", "ü", "~!@#$%^&*()"})
        CHECK_FALSE(hasControlCharacter(good));
}

TEST_CASE("bind paths are what a .nspawn file reads back as they were")
{
    for (const char* good : {"/srv/data", "/srv/with space/x", "/srv/a:b", "/", "/srv/ü"})
        CHECK(isBindablePath(good));
    for (const char* bad :
         {"srv", "/srv/", "/srv/../etc", "/a\\b", "/a\\:b", "/trailing ", "/a\rb", "/a\nBind=/:/host", "/a\tb", ""})
        CHECK_FALSE(isBindablePath(bad));
}

TEST_CASE("interface names as the kernel takes them")
{
    for (const char* good : {"br0", "virbr-0", "eth.100", "a", "x_1", "br0@x", "1br"})
        CHECK(isValidInterfaceName(good));
    CHECK(isValidInterfaceName(std::string(15, 'b')));
    CHECK_FALSE(isValidInterfaceName(std::string(16, 'b')));
    for (const char* bad : {"", ".", "..", "br 0", "br/0", "br:0", "br0\n", "br0\n[Files]\nBind=/:/host", "br0\r",
                            "br\t0", "ü", "123", "0", "br0\x7f"})
        CHECK_FALSE(isValidInterfaceName(bad));
    CHECK_FALSE(isValidInterfaceName(std::string_view("br\0x", 4)));
}

TEST_CASE("addresses are parsed, with their prefix where one belongs")
{
    for (const char* good : {"192.0.2.1", "0.0.0.0", "::1", "2001:db8::1", "fe80::1"})
        CHECK(isIpAddress(good));
    for (const char* bad : {"", "192.0.2", "192.0.2.256", "192.0.2.1/24", "1.2.3.4\n[Network]", "example.org",
                            "fe80::1%eth0", " 192.0.2.1", "192.0.2.1 ", ":::"})
        CHECK_FALSE(isIpAddress(bad));
    CHECK_FALSE(isIpAddress(std::string_view("1.2.3.4\0x", 9)));
    for (const char* good : {"192.0.2.20/24", "10.0.0.1/0", "10.0.0.1/32", "2001:db8::20/64", "::1/128"})
        CHECK(isAddressWithPrefix(good));
    for (const char* bad : {"192.0.2.20", "192.0.2.20/", "192.0.2.20/33", "2001:db8::1/129", "10.0.0.1/-1",
                            "10.0.0.1/+8", "10.0.0.1/1000", "10.0.0.1/24\n", "10.0.0.1/24/8", "/24", "x/24"})
        CHECK_FALSE(isAddressWithPrefix(bad));
}

TEST_CASE("environment assignments")
{
    for (const char* good : {"A=b", "_X=", "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "X=a=b", "X=ü"})
        CHECK(isEnvironmentAssignment(good));
    for (const char* bad : {"", "=x", "A", "1A=x", "A B=x", "A-B=x", "A=b\nc", "A=b\r", "A=\t", "A=\x7f"})
        CHECK_FALSE(isEnvironmentAssignment(bad));
}
