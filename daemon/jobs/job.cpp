#include "job.h"

#include "current-error.h"

#include <algorithm>
#include <exception>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <syslog.h>
#include <utility>

namespace bred {

std::string_view jobStateName(JobState state)
{
    switch (state) {
    case JobState::Running: return "running";
    case JobState::Done: return "done";
    case JobState::Failed: return "failed";
    case JobState::Canceled: return "canceled";
    }
    return "failed";
}

void JobContext::setStage(const std::string& stage)
{
    job_.update([&](JobProgress& p) { p.stage = stage; });
}

void JobContext::setProgress(double fraction)
{
    job_.update([&](JobProgress& p) { p.progress = fraction < 0 ? -1.0 : std::min(fraction, 1.0); });
}

void JobContext::setBytes(std::uint64_t done, std::uint64_t total)
{
    job_.update([&](JobProgress& p) {
        p.bytesDone = done;
        p.bytesTotal = total;
    });
}

void JobContext::setExitStatus(std::int32_t status)
{
    job_.update([&](JobProgress& p) { p.exitStatus = status; });
}

void JobContext::log(unsigned priority, const std::string& line) { job_.addLogLine(priority, line); }

bool JobContext::cancelRequested() const
{
    return job_.cancelRequested_.load() && !job_.pastPointOfNoReturn_.load();
}

void JobContext::throwIfCanceled() const
{
    if (cancelRequested())
        throw JobCanceled{};
}

void JobContext::enterPointOfNoReturn()
{
    throwIfCanceled();
    job_.pastPointOfNoReturn_ = true;
}

Job::Job(std::uint32_t id, std::string type, std::string machine, std::string polkitAction, uid_t ownerUid)
    : id_(id), type_(std::move(type)), machine_(std::move(machine)), polkitAction_(std::move(polkitAction)),
      ownerUid_(ownerUid)
{
}

Job::~Job() { join(); }

void Job::start(Work work)
{
    thread_ = std::thread([this, work = std::move(work)] {
        JobContext context(*this);
        try {
            work(context);
            finish(JobState::Done, std::nullopt);
        } catch (const JobCanceled&) {
            finish(JobState::Canceled, std::nullopt);
        } catch (...) {
            finish(JobState::Failed, currentError(fmt::format("Job {} ({} {})", id_, type_, machine_)));
        }
    });
}

bool Job::requestCancel()
{
    if (pastPointOfNoReturn_ || progress().state != JobState::Running)
        return false;
    cancelRequested_ = true;
    return true;
}

JobProgress Job::progress() const
{
    std::lock_guard lock(mutex_);
    return progress_;
}

std::vector<JobLogLine> Job::takeLogLines()
{
    std::lock_guard lock(mutex_);
    return std::exchange(logLines_, {});
}

std::optional<Error> Job::failure() const
{
    std::lock_guard lock(mutex_);
    return failure_;
}

void Job::join()
{
    if (thread_.joinable())
        thread_.join();
}

void Job::update(const std::function<void(JobProgress&)>& change)
{
    {
        std::lock_guard lock(mutex_);
        change(progress_);
    }
    if (notifier_)
        notifier_();
}

void Job::addLogLine(unsigned priority, const std::string& line)
{
    // The journal keeps every line, also those of a client that is gone.
    auto level = priority <= LOG_ERR       ? spdlog::level::err
                 : priority == LOG_WARNING ? spdlog::level::warn
                 : priority == LOG_DEBUG   ? spdlog::level::debug
                                           : spdlog::level::info;
    spdlog::log(level, "Job {} ({} {}): {}", id_, type_, machine_, line);
    {
        std::lock_guard lock(mutex_);
        // A runaway producer must not grow memory without bound between two loop turns.
        if (logLines_.size() < 1000)
            logLines_.push_back({priority, line});
    }
    if (notifier_)
        notifier_();
}

void Job::finish(JobState state, std::optional<Error> failure)
{
    {
        std::lock_guard lock(mutex_);
        progress_.state = state;
        if (state == JobState::Done)
            progress_.progress = 1.0;
        failure_ = std::move(failure);
    }
    if (notifier_)
        notifier_();
}

} // namespace bred
