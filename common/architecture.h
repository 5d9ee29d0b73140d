// Architectures by systemd's names (ConditionArchitecture=, os-release's
// ARCHITECTURE=): x86-64, arm64, arm, riscv64, ...
#pragma once

#include <string>

namespace bred {

// systemd's name for the architecture this program runs on.
std::string hostArchitecture();

} // namespace bred
