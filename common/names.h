// Validation of the names the contract constrains.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace bred {

// A machine name is a valid hostname, as `systemd-nspawn --machine=` requires:
// 1..64 of [A-Za-z0-9.-], dot-separated non-empty labels not starting or ending with '-'.
bool isValidMachineName(std::string_view name);

// What to call an operating system, from its os-release fields: PRETTY_NAME,
// else NAME, else ID; "-" when it has none of them.
std::string osDisplayName(const std::map<std::string, std::string>& osRelease);

// A user name inside a container: letter or '_' first, then letters, digits, '_', '-';
// at most 31 characters; not all digits.
bool isValidUserName(std::string_view name);

// An absolute, normalized path: "/srv/data", not "srv", "/srv/../x", "/srv/./x",
// "/srv//x" or "/srv/"; no control character (NUL, LF, CR, TAB, DEL...).
bool isAbsoluteNormalPath(std::string_view path);

// Whether `text` holds a C0 control character or DEL: systemd's config
// parsers end a line at LF and CR, and none of these belong in a value.
bool hasControlCharacter(std::string_view text);

// A path for Bind= in a .nspawn file: absolute and normalized, without a
// backslash (systemd reads "\x" as "x") and not ending in whitespace (systemd
// strips it). A ':' is fine: bindSpec() escapes it as nspawn reads it back.
bool isBindablePath(std::string_view path);

// A network interface name as the kernel takes it (systemd's ifname_valid()):
// 1 to 15 printable ASCII characters, no '/', ':' or whitespace, not "." or
// "..", not all digits (that reads as an interface index).
bool isValidInterfaceName(std::string_view name);

// An IPv4 or IPv6 address as inet_pton(3) parses it ("192.0.2.1", "2001:db8::1").
bool isIpAddress(std::string_view text);

// An address with its prefix length: "192.0.2.20/24" (0-32), "2001:db8::20/64" (0-128).
bool isAddressWithPrefix(std::string_view text);

// An environment assignment: NAME=VALUE, NAME of letters, digits and '_' not
// starting with a digit, VALUE without control characters.
bool isEnvironmentAssignment(std::string_view assignment);

} // namespace bred
