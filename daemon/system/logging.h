// spdlog to the journal (with MACHINE=/JOB= fields) under systemd, to stderr otherwise.
#pragma once

#include <string>

namespace bred {

void setupLogging(bool verbose);

// Fields the journal sink attaches to messages logged on this thread.
struct LogFields {
    std::string machine;
    std::string job;
};
// Sets the fields for the calling thread until the returned guard goes away.
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
