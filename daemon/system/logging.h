// spdlog to the journal under systemd, with the MACHINE= and JOB= fields of
// the thread that logs (common/log-fields.h); to stderr otherwise.
#pragma once

namespace bred {

void setupLogging(bool verbose);

} // namespace bred
