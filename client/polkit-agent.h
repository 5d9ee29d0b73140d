// A text polkit agent for the duration of a call, as systemctl and machinectl
// start one: so a person at a terminal can type a password when asked.
#pragma once

#include <sys/types.h>

namespace bred::client {

class PolkitAgent {
public:
    // Starts pkttyagent when stdin and stderr are terminals; does nothing otherwise.
    PolkitAgent();
    ~PolkitAgent();
    PolkitAgent(const PolkitAgent&) = delete;
    PolkitAgent& operator=(const PolkitAgent&) = delete;

private:
    pid_t pid_ = -1;
};

} // namespace bred::client
