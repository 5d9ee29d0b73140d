// A long-running operation on a machine. Thread work (copy, unpack) runs on a
// thread of its own and reports through JobContext; loop work (systemd calls
// and their signals) begins on the event loop and ends through a Finish
// callback called there. Everything else (properties, signals, the final
// result) is read on the event-loop thread.
#pragma once

#include "errors.h"
#include "job-canceled.h"
#include "log-fields.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
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
    explicit JobContext(Job& job) : job_(job) { }
    void setStage(const std::string& stage);
    void setProgress(double fraction);
    void setBytes(std::uint64_t done, std::uint64_t total);
    void setExitStatus(std::int32_t status);
    void log(unsigned priority, const std::string& line);
    bool cancelRequested() const;
    // Readable once a cancel was requested: for work that waits in poll(2).
    int cancelFd() const;
    // Throws JobCanceled when a cancel was requested; the job then ends `canceled`.
    void throwIfCanceled() const;
    // Past this point the work cannot be undone, so a cancel is no longer honoured.
    void enterPointOfNoReturn();

private:
    Job& job_;
};

class Job : public std::enable_shared_from_this<Job> {
public:
    using Work = std::function<void(JobContext&)>;
    // Ends loop work, on the loop thread: nullopt when it succeeded.
    using Finish = std::function<void(std::optional<Error>)>;
    using LoopWork = std::function<void(Finish finish)>;
    // Undoes loop work on a cancel, on the loop thread, and calls `undone` when that is over.
    using LoopCancel = std::function<void(Finish undone)>;

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

    // Thread work: runs `work` on a thread of its own.
    void start(Work work);
    // Loop work, on the loop thread, for a job owned by a shared_ptr: runs `work`, which
    // calls its Finish once. With `cancel`, a cancel runs it, and the job ends (canceled,
    // or failed when the undoing failed) once both have finished; without, the work
    // cannot be canceled.
    void startOnLoop(const LoopWork& work, LoopCancel cancel);
    // Asks the work to stop; false once past the point of no return or finished, and for
    // loop work without a cancel handler. For loop work, call it on the loop thread.
    bool requestCancel();
    // Whether a cancel was accepted (loop work asks it before each step).
    bool cancelRequested() const { return cancelRequested_.load(); }
    bool runsOnThread() const { return !loopWork_; }

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
    // MACHINE= and JOB= for the journal lines logged while the job works.
    LogFields logFields() const;
    // The end of loop work or of its undoing; the job ends when neither is still under way.
    void loopStepEnded(bool undoing, std::optional<Error> error);

    const std::uint32_t id_;
    const std::string type_, machine_, polkitAction_;
    const uid_t ownerUid_;
    std::function<void()> notifier_;
    std::atomic<bool> cancelRequested_{false};
    int cancelFd_ = -1; // an eventfd
    std::atomic<bool> pastPointOfNoReturn_{false};
    mutable std::mutex mutex_;
    JobProgress progress_;
    std::vector<JobLogLine> logLines_;
    std::optional<Error> failure_;
    std::thread thread_;
    // Loop work only, touched on the loop thread.
    bool loopWork_ = false;
    LoopCancel loopCancel_;
    bool loopWorkRunning_ = false, undoRunning_ = false;
    std::optional<Error> loopWorkError_, undoError_;
};

} // namespace bred
