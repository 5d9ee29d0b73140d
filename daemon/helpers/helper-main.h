// What the helper programs share: the report channel to the daemon
// (descriptor 3, unpack-report.h) and main()'s frame.
#pragma once

#include "unpack-report.h"

#include <string_view>
#include <vector>

namespace bred {

// Writes all of `bytes` to `fd`; false when the reader is gone.
bool writeAll(int fd, std::string_view bytes);

// Sends `record` to the daemon; exits at once when the daemon is gone.
void report(const UnpackRecord& record);

// main() of a helper: closes every descriptor but 0-3, runs `work` with the
// arguments after the program's name, and reports a failure it throws.
// Returns the exit status.
int runHelper(int argc, char** argv, void (*work)(const std::vector<std::string_view>& arguments));

} // namespace bred
