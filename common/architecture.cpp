#include "architecture.h"

#include <sys/utsname.h>

namespace bred {

std::string hostArchitecture()
{
    utsname name{};
    uname(&name);
    std::string machine = name.machine;
    if (machine == "x86_64")
        return "x86-64";
    if (machine == "aarch64")
        return "arm64";
    if (machine.starts_with("armv"))
        return "arm";
    if (machine == "riscv64")
        return "riscv64";
    if (machine == "i686" || machine == "i586" || machine == "i386")
        return "x86";
    if (machine == "ppc64le")
        return "ppc64-le";
    return machine;
}

} // namespace bred
