// Runs admitted jobs and keeps their Job objects: rate-limited progress
// signals, the final values, then JobRemoved; and who may cancel.
#pragma once

#include "event-loop.h"
#include "job-manager.h"
#include "job-object.h"
#include "polkit-authority.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>

namespace bred {

class JobRegistry {
public:
    using JobNewAnnouncer = std::function<void(std::uint32_t id, const std::string& path)>;
    using JobRemovedAnnouncer = std::function<void(std::uint32_t id, const std::string& path, const std::string& result,
                                                   const std::string& errorName, const std::string& errorMessage)>;

    JobRegistry(sdbus::IConnection& bus, EventLoop& loop, JobManager& jobs, PolkitAuthority& polkit);
    ~JobRegistry();

    void setAnnouncers(JobNewAnnouncer onNew, JobRemovedAnnouncer onRemoved);
    // Calls `ended` on the loop with the job's Machine after each job's onFinished, before JobRemoved.
    void onJobEnded(std::function<void(const std::string& machine)> ended) { jobEnded_ = std::move(ended); }

    // Exports the admitted job and starts its work on a thread of its own.
    // `onFinished` runs on the loop after the work ends and before JobRemoved.
    std::string start(const std::shared_ptr<Job>& job, Job::Work work, std::function<void()> onFinished);
    // The same for loop work (see Job::startOnLoop); `cancel` may be empty.
    std::string startOnLoop(const std::shared_ptr<Job>& job, Job::LoopWork work, Job::LoopCancel cancel,
                            std::function<void()> onFinished);

    // Asks every job's thread to stop and waits for them (daemon shutdown); what loop work
    // started in systemd goes on without us.
    void cancelAll();

private:
    struct Entry {
        std::unique_ptr<JobObject> object;
        std::function<void()> onFinished;
        std::chrono::steady_clock::time_point lastPublished{};
        EventLoop::TimerId timer = 0;
    };
    // Exports the job and calls `begin`, which starts its work.
    std::string launch(const std::shared_ptr<Job>& job, std::function<void()> onFinished,
                       const std::function<void()>& begin);
    void changed(std::uint32_t id);
    void finish(std::uint32_t id);
    void cancel(const std::shared_ptr<Job>& job, sdbus::Result<>&& result, const sdbus::Message& message);

    sdbus::IConnection& bus_;
    EventLoop& loop_;
    JobManager& jobs_;
    PolkitAuthority& polkit_;
    JobNewAnnouncer onNew_;
    JobRemovedAnnouncer onRemoved_;
    std::function<void(const std::string&)> jobEnded_;
    std::map<std::uint32_t, Entry> entries_;
};

} // namespace bred
