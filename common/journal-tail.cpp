#include "journal-tail.h"

#include "utf8.h"

#include <algorithm>
#include <memory>
#include <systemd/sd-journal.h>

namespace bred {
namespace {

std::string field(sd_journal* journal, const char* name)
{
    const void* data = nullptr;
    std::size_t length = 0;
    std::string prefix = std::string(name) + "=";
    if (sd_journal_get_data(journal, name, &data, &length) < 0 || length < prefix.size())
        return {};
    return std::string(static_cast<const char*>(data) + prefix.size(), length - prefix.size());
}

} // namespace

std::vector<JournalLine> unitJournalTail(const std::string& unit, unsigned lines)
{
    sd_journal* journal = nullptr;
    if (sd_journal_open(&journal, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM) < 0)
        return {};
    std::unique_ptr<sd_journal, decltype(&sd_journal_close)> holder(journal, sd_journal_close);
    // What the unit's processes logged, and what systemd logged about the unit.
    std::string match = "_SYSTEMD_UNIT=" + unit;
    sd_journal_add_match(journal, match.data(), match.size());
    sd_journal_add_disjunction(journal);
    std::string unitMatch = "UNIT=" + unit;
    sd_journal_add_match(journal, unitMatch.data(), unitMatch.size());
    sd_journal_seek_tail(journal);
    std::vector<JournalLine> collected;
    while (collected.size() < lines && sd_journal_previous(journal) > 0) {
        JournalLine line;
        sd_journal_get_realtime_usec(journal, &line.realtimeUsec);
        // Containers log any bytes; what is shown, or put in an error, must be valid UTF-8.
        line.identifier = escapeInvalidUtf8(field(journal, "SYSLOG_IDENTIFIER"));
        line.message = escapeInvalidUtf8(field(journal, "MESSAGE"));
        collected.push_back(std::move(line));
    }
    std::reverse(collected.begin(), collected.end());
    return collected;
}

} // namespace bred
