#include "job-registry.h"

#include "bus-names.h"
#include "current-error.h"
#include "dbus-error.h"
#include "utf8.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

namespace bred {
namespace {

// The contract allows "a few" property signals a second.
constexpr auto publishInterval = std::chrono::milliseconds(250);

} // namespace

JobRegistry::JobRegistry(sdbus::IConnection& bus, EventLoop& loop, JobManager& jobs, PolkitAuthority& polkit) :
    bus_(bus),
    loop_(loop),
    jobs_(jobs),
    polkit_(polkit)
{
}

JobRegistry::~JobRegistry() { cancelAll(); }

void JobRegistry::setAnnouncers(JobNewAnnouncer onNew, JobRemovedAnnouncer onRemoved)
{
    onNew_ = std::move(onNew);
    onRemoved_ = std::move(onRemoved);
}

std::string JobRegistry::start(const std::shared_ptr<Job>& job, Job::Work work, std::function<void()> onFinished)
{
    return launch(job, std::move(onFinished), [&] { job->start(std::move(work)); });
}

std::string JobRegistry::startOnLoop(const std::shared_ptr<Job>& job, Job::LoopWork work, Job::LoopCancel cancel,
                                     std::function<void()> onFinished)
{
    return launch(job, std::move(onFinished), [&] { job->startOnLoop(work, std::move(cancel)); });
}

std::string JobRegistry::launch(const std::shared_ptr<Job>& job, std::function<void()> onFinished,
                                const std::function<void()>& begin)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    std::uint32_t id = job->id();
    auto path = bus::jobPath(id);
    try {
        Entry& entry = entries_[id];
        entry.object = std::make_unique<JobObject>(
            bus_, job, [this, job](sdbus::Result<>&& result, const sdbus::Message& message) {
                cancel(job, std::move(result), message);
            });
        entry.onFinished = std::move(onFinished);
        // Coalesce the worker's notifications: one posted task until the loop has run it.
        auto pendingFlag = std::make_shared<std::atomic<bool>>(false);
        job->setChangeNotifier([this, id, pendingFlag] {
            if (!pendingFlag->exchange(true))
                loop_.post([this, id, pendingFlag] {
                    pendingFlag->store(false);
                    changed(id);
                });
        });
        try {
            if (onNew_)
                onNew_(id, path);
        } catch (...) {
            logCurrentError(fmt::format("Announcing job {}", id));
        }
        spdlog::info("Job {} ({} {}) started", id, job->type(), job->machine());
        begin();
    } catch (...) {
        // A job that could not start must not hold its machines.
        entries_.erase(id);
        jobs_.release(id);
        throw;
    }
    return path;
}

void JobRegistry::changed(std::uint32_t id)
{
    auto it = entries_.find(id);
    auto job = jobs_.find(id);
    if (it == entries_.end() || !job)
        return;
    Entry& entry = it->second;
    if (job->progress().state != JobState::Running) {
        finish(id);
        return;
    }
    auto now = std::chrono::steady_clock::now();
    if (now - entry.lastPublished >= publishInterval) {
        entry.object->publish();
        entry.lastPublished = now;
    } else if (!entry.timer) {
        entry.timer = loop_.addTimer(
            std::chrono::duration_cast<std::chrono::milliseconds>(entry.lastPublished + publishInterval - now),
            [this, id] {
                auto again = entries_.find(id);
                if (again == entries_.end())
                    return;
                again->second.timer = 0;
                changed(id);
            });
    }
}

void JobRegistry::finish(std::uint32_t id)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    auto job = jobs_.find(id);
    Entry entry = std::move(entries_.at(id));
    entries_.erase(id);
    if (entry.timer)
        loop_.cancelTimer(entry.timer);
    job->join();
    // The final values go out before JobRemoved, as the contract promises.
    entry.object->publish();
    // Whatever fails in the aftermath, the job still ends and JobRemoved goes out.
    if (entry.onFinished) {
        try {
            entry.onFinished();
        } catch (...) {
            logCurrentError(fmt::format("Finishing job {}", id));
        }
    }
    if (jobEnded_) {
        try {
            jobEnded_(job->machine());
        } catch (...) {
            logCurrentError(fmt::format("Finishing job {}", id));
        }
    }

    auto progress = job->progress();
    auto failure = job->failure();
    std::string result(jobStateName(progress.state));
    std::string errorName = failure ? std::string(dbusErrorName(failure->code())) : std::string();
    std::string errorMessage = failure ? escapeInvalidUtf8(failure->what()) : std::string();
    if (failure)
        spdlog::warn("Job {} ({} {}) failed: {}", id, job->type(), job->machine(), errorMessage);
    else
        spdlog::info("Job {} ({} {}) {}", id, job->type(), job->machine(), result);
    auto path = bus::jobPath(id);
    entry.object.reset();
    jobs_.release(id);
    try {
        if (onRemoved_)
            onRemoved_(id, path, result, errorName, errorMessage);
    } catch (...) {
        logCurrentError(fmt::format("Signalling the end of job {}", id));
    }
}

void JobRegistry::cancel(const std::shared_ptr<Job>& job, sdbus::Result<>&& result, const sdbus::Message& message)
{
    Caller caller = Caller::fromMessage(message);
    auto sharedResult = std::make_shared<sdbus::Result<>>(std::move(result));
    auto requestCancel = [job, sharedResult] {
        if (!job->requestCancel()) {
            sharedResult->returnError(toDbusError(
                Error(ErrorCode::NotSupported,
                      fmt::format("Job {} can no longer be canceled: it is finishing work that cannot be undone.",
                                  job->id()))));
            return;
        }
        sharedResult->returnResults();
    };
    // Whoever started the job may cancel it; anyone else needs the job's own action.
    if (caller.uid == job->ownerUid()) {
        requestCancel();
        return;
    }
    polkit_.check(caller, job->polkitAction(), {{"machine", job->machine()}, {"verb", "cancel"}},
                  [sharedResult, requestCancel](std::optional<Error> denied) {
                      if (denied)
                          sharedResult->returnError(toDbusError(*denied));
                      else
                          requestCancel();
                  });
}

void JobRegistry::cancelAll()
{
    for (const auto& job : jobs_.jobs())
        if (job->runsOnThread())
            job->requestCancel();
    for (const auto& job : jobs_.jobs())
        job->join();
}

} // namespace bred
