#include "logging.h"

#include "log-fields.h"
#include "utf8.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <vector>

namespace bred {
namespace {

int syslogPriority(spdlog::level::level_enum level)
{
    switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
        return LOG_DEBUG;
    case spdlog::level::info:
        return LOG_INFO;
    case spdlog::level::warn:
        return LOG_WARNING;
    case spdlog::level::err:
        return LOG_ERR;
    case spdlog::level::critical:
        return LOG_CRIT;
    default:
        return LOG_INFO;
    }
}

class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
    void sink_it_(const spdlog::details::log_msg& message) override
    {
        std::vector<std::string> fields{
            // Lines quote what trees, archives and commands hold; journalctl shows invalid UTF-8 as a blob.
            "MESSAGE=" + escapeInvalidUtf8(std::string_view(message.payload.data(), message.payload.size())),
            "PRIORITY=" + std::to_string(syslogPriority(message.level)),
            "SYSLOG_IDENTIFIER=bred-machined",
        };
        const LogFields& about = currentLogFields();
        if (!about.machine.empty())
            fields.push_back("MACHINE=" + escapeInvalidUtf8(about.machine));
        if (!about.job.empty())
            fields.push_back("JOB=" + about.job);
        std::vector<iovec> vectors;
        for (auto& field : fields)
            vectors.push_back({field.data(), field.size()});
        sd_journal_sendv(vectors.data(), static_cast<int>(vectors.size()));
    }
    void flush_() override { }
};

// systemd sets JOURNAL_STREAM to the device and inode of the stderr it connected to the journal.
bool stderrIsJournal()
{
    const char* stream = std::getenv("JOURNAL_STREAM");
    struct stat st { };
    if (!stream || fstat(STDERR_FILENO, &st) < 0)
        return false;
    unsigned long long device = 0, inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2)
        return false;
    return device == st.st_dev && inode == st.st_ino;
}

} // namespace

void setupLogging(bool verbose)
{
    std::shared_ptr<spdlog::logger> logger;
    if (stderrIsJournal()) {
        logger = std::make_shared<spdlog::logger>("bred-machined", std::make_shared<JournalSink>());
    } else {
        logger = std::make_shared<spdlog::logger>("bred-machined", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        logger->set_pattern("%^%l%$: %v");
    }
    logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

} // namespace bred
