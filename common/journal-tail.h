// The last lines a unit logged, read from the local journal (as `systemctl
// status` shows them). What is visible depends on the reader's rights.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bred {

struct JournalLine {
    std::uint64_t realtimeUsec = 0;
    std::string identifier; // SYSLOG_IDENTIFIER, e.g. systemd-nspawn or systemd
    std::string message;
};

// Oldest first; empty when the journal cannot be read.
std::vector<JournalLine> unitJournalTail(const std::string& unit, unsigned lines);

} // namespace bred
