// Validation of the names the contract constrains.
#pragma once

#include <string_view>

namespace bred {

// A machine name is a valid hostname, as `systemd-nspawn --machine=` requires:
// 1..64 of [A-Za-z0-9.-], dot-separated non-empty labels not starting or ending with '-'.
bool isValidMachineName(std::string_view name);

// A user name inside a container: letter or '_' first, then letters, digits, '_', '-';
// at most 31 characters; not all digits.
bool isValidUserName(std::string_view name);

// An absolute, normalized path: "/srv/data", not "srv", "/srv/../x", "/srv/./x",
// "/srv//x" or "/srv/"; no NUL or newline.
bool isAbsoluteNormalPath(std::string_view path);

} // namespace bred
