#include "job.h"

#include "current-error.h"
#include "log-fields.h"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace bred {

std::string_view jobStateName(JobState state)
{
    switch (state) {
    case JobState::Running:
        return "running";
    case JobState::Done:
        return "done";
    case JobState::Failed:
        return "failed";
    case JobState::Canceled:
        return "canceled";
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

bool JobContext::cancelRequested() const { return job_.cancelRequested_.load() && !job_.pastPointOfNoReturn_.load(); }

int JobContext::cancelFd() const { return job_.cancelFd_; }

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

Job::Job(std::uint32_t id, std::string type, std::string machine, std::string polkitAction, uid_t ownerUid) :
    id_(id),
    type_(std::move(type)),
    machine_(std::move(machine)),
    polkitAction_(std::move(polkitAction)),
    ownerUid_(ownerUid),
    cancelFd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (cancelFd_ < 0)
        throw std::system_error(errno, std::generic_category(), "eventfd");
}

Job::~Job()
{
    join();
    close(cancelFd_);
}

void Job::start(Work work)
{
    thread_ = std::thread([this, work = std::move(work)] {
        ScopedLogFields fields(logFields());
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

void Job::startOnLoop(const LoopWork& work, LoopCancel cancel)
{
    loopWork_ = true;
    loopCancel_ = std::move(cancel);
    loopWorkRunning_ = true;
    auto self = shared_from_this();
    ScopedLogFields fields(logFields());
    try {
        work([self](std::optional<Error> error) { self->loopStepEnded(false, std::move(error)); });
    } catch (...) {
        loopStepEnded(false, currentError(fmt::format("Job {} ({} {})", id_, type_, machine_)));
    }
}

bool Job::requestCancel()
{
    if (pastPointOfNoReturn_ || progress().state != JobState::Running)
        return false;
    if (runsOnThread()) {
        cancelRequested_ = true;
        std::uint64_t one = 1;
        // A full counter is readable too, so a failed write needs no handling.
        [[maybe_unused]] auto written = write(cancelFd_, &one, sizeof one);
        return true;
    }
    if (!loopCancel_)
        return false;
    if (cancelRequested_.exchange(true))
        return true; // being undone already
    undoRunning_ = true;
    auto self = shared_from_this();
    // A copy: the job may end, and drop its handler, inside the call.
    LoopCancel cancel = loopCancel_;
    ScopedLogFields fields(logFields());
    try {
        cancel([self](std::optional<Error> error) { self->loopStepEnded(true, std::move(error)); });
    } catch (...) {
        loopStepEnded(true, currentError(fmt::format("Canceling job {} ({} {})", id_, type_, machine_)));
    }
    return true;
}

void Job::loopStepEnded(bool undoing, std::optional<Error> error)
{
    (undoing ? undoRunning_ : loopWorkRunning_) = false;
    (undoing ? undoError_ : loopWorkError_) = std::move(error);
    if (loopWorkRunning_ || undoRunning_ || progress().state != JobState::Running)
        return;
    loopCancel_ = nullptr;
    // Once canceled, the work's own error is the cancel's doing; only a failed undo counts.
    if (cancelRequested_)
        finish(undoError_ ? JobState::Failed : JobState::Canceled, undoError_);
    else
        finish(loopWorkError_ ? JobState::Failed : JobState::Done, loopWorkError_);
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
    {
        // Also from a loop callback of the job's, which has no fields of its own.
        ScopedLogFields fields(logFields());
        spdlog::log(level, "Job {} ({} {}): {}", id_, type_, machine_, line);
    }
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

LogFields Job::logFields() const { return {machine_, std::to_string(id_)}; }

} // namespace bred
