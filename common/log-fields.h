// Journal fields that say what a log line is about (MACHINE=, JOB=), so that
// `journalctl MACHINE=web` finds every line of a machine's jobs. Kept per
// thread: a job's thread sets them once, and the journal sink reads them.
#pragma once

#include <string>

namespace bred {

struct LogFields {
    std::string machine;
    std::string job;
};

// The fields of the calling thread (empty strings where none is set).
const LogFields& currentLogFields();

// Sets the fields for the calling thread until the guard goes away.
class ScopedLogFields {
public:
    explicit ScopedLogFields(LogFields fields);
    ~ScopedLogFields();
    ScopedLogFields(const ScopedLogFields&) = delete;
    ScopedLogFields& operator=(const ScopedLogFields&) = delete;

private:
    LogFields previous_;
};

} // namespace bred
