// The verbs of bredmachine: each turns its command line into calls to the
// daemon (and, for status, to systemd and machined) and prints the outcome.
#pragma once

#include "bus-client.h"
#include "command-line.h"
#include "output.h"

namespace bred::client {

// The checks of the arguments that need no daemon: names, ids, signals,
// options that go together. Throws UsageError.
void checkCommandLine(const CommandLine& line);

// Runs the verb of `line`; returns the exit status.
int runVerb(BusClient& bus, const CommandLine& line, const Output& output);

} // namespace bred::client
