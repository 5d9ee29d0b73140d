// Catch2's main for every unit-test program: ours in both Catch2 generations,
// because of the root check below.
#define CATCH_CONFIG_RUNNER
#include "catch.h"

#include <cstdlib>
#include <iostream>
#include <string_view>
#include <unistd.h>

int main(int argc, char* argv[])
{
    // Cases that need root run as a meson test of their own, which says so
    // with BRED_TEST_NEEDS_ROOT=1: without root it is reported as skipped
    // (77, as meson counts it), never as passed with nothing checked.
    const char* needsRoot = std::getenv("BRED_TEST_NEEDS_ROOT");
    if (needsRoot && std::string_view(needsRoot) == "1" && geteuid() != 0) {
        std::cerr << "skipped: these test cases need root\n";
        return 77;
    }
    return Catch::Session().run(argc, argv);
}
