// A long-running operation on a machine. The work runs on its own thread and
// reports through JobContext; everything else (properties, signals, the final
// result) is read on the event-loop thread.
#pragma once

#include "errors.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace bred {

enum class JobState { Running, Done, Failed, Canceled };
std::string_view jobStateName(JobState state);

struct JobProgress {
    JobState state = JobState::Running;
    double progress = -1.0; // 0..1, or -1 when unknown
    std::string stage;
    std::uint64_t bytesDone = 0;
    std::uint64_t bytesTotal = 0;
    std::int32_t exitStatus = -1;
    bool operator==(const JobProgress&) const = default;
};

struct JobLogLine {
    unsigned priority; // syslog priority
    std::string line;
};

class Job;

// What the work function sees. Thread-safe.
class JobContext {
public:
    explicit JobContext(Job& job) : job_(job) {}
    void setStage(const std::string& stage);
    void setProgress(double fraction);
    void setBytes(std::uint64_t done, std::uint64_t total);
    void setExitStatus(std::int32_t status);
    void log(unsigned priority, const std::string& line);
    bool cancelRequested() const;
    // Throws Error(Failed) "canceled" when a cancel was requested; the job then ends `canceled`.
    void throwIfCanceled() const;
    // Past this point the work cannot be undone, so a cancel is no longer honoured.
    void enterPointOfNoReturn();

private:
    Job& job_;
};

// Thrown by throwIfCanceled(); the job ends `canceled`.
struct JobCanceled {};

class Job {
public:
    using Work = std::function<void(JobContext&)>;

    Job(std::uint32_t id, std::string type, std::string machine, std::string polkitAction, uid_t ownerUid);
    ~Job();
    Job(const Job&) = delete;
    Job& operator=(const Job&) = delete;

    std::uint32_t id() const { return id_; }
    const std::string& type() const { return type_; }
    const std::string& machine() const { return machine_; }
    const std::string& polkitAction() const { return polkitAction_; }
    uid_t ownerUid() const { return ownerUid_; }

    // Called (from any thread) after the job's progress changed, a log line was
    // added, or it finished; the owner posts to its loop from there.
    void setChangeNotifier(std::function<void()> notifier) { notifier_ = std::move(notifier); }

    void start(Work work);
    // Asks the work to stop; false once past the point of no return or finished.
    bool requestCancel();

    JobProgress progress() const;
    std::vector<JobLogLine> takeLogLines();
    // Set once the job finished: the error that failed it (nullopt when done or canceled).
    std::optional<Error> failure() const;
    // Joins the worker; call once progress().state is no longer Running.
    void join();

private:
    friend class JobContext;
    void update(const std::function<void(JobProgress&)>& change);
    void addLogLine(unsigned priority, const std::string& line);
    void finish(JobState state, std::optional<Error> failure);

    const std::uint32_t id_;
    const std::string type_, machine_, polkitAction_;
    const uid_t ownerUid_;
    std::function<void()> notifier_;
    std::atomic<bool> cancelRequested_{false};
    std::atomic<bool> pastPointOfNoReturn_{false};
    mutable std::mutex mutex_;
    JobProgress progress_;
    std::vector<JobLogLine> logLines_;
    std::optional<Error> failure_;
    std::thread thread_;
};

} // namespace bred
