// A helper program of ours (bred-machined-unpack, bred-machined-download) run
// as a child with only the descriptors it needs: its standard input and output
// and, as descriptor 3, the write end of the pipe its report records
// (unpack-report.h) come back through. The
// records are read on a thread of their own as they come, so a helper never
// waits for the daemon while the daemon feeds it.
#pragma once

#include "unique-fd.h"
#include "unpack-report.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace bred {

// A pipe between the daemon and a helper: the daemon's end non-blocking (its
// waits are polls that a cancel ends), 1 MiB of room, both ends close-on-exec.
struct HelperPipe {
    UniqueFd daemonEnd, helperEnd;
};
enum class PipeDirection { ToHelper, FromHelper };
HelperPipe makeHelperPipe(PipeDirection direction);

class HelperProcess {
public:
    // Called on the reader thread for every record but the final one.
    using RecordHandler = std::function<void(const UnpackRecord&)>;

    // The helper's standard input and output; -1: /dev/null for input, the
    // daemon's own output (the journal) for output.
    struct Stdio {
        int in = -1, out = -1;
    };

    // Starts `program` with `arguments` (argv[1]...) and `stdio`. Throws
    // Error(Failed) when it cannot.
    HelperProcess(const std::filesystem::path& program, const std::vector<std::string>& arguments, Stdio stdio,
                  RecordHandler onRecord);
    // Stops a helper still running.
    ~HelperProcess();
    HelperProcess(const HelperProcess&) = delete;
    HelperProcess& operator=(const HelperProcess&) = delete;

    // Waits for the helper to end or `cancelFd` (the job's cancel eventfd) to
    // become readable, whichever comes first; a cancel stops it and returns
    // false. Throws the failure it reported, or Error(Failed) naming the signal
    // that killed it or what else went wrong.
    bool wait(int cancelFd);
    // SIGTERM, then SIGKILL after `gracePeriod`; returns once it is reaped.
    void stop();
    // True once the helper has exited (or was killed), before wait() reaps it.
    bool hasEnded() const;

    static constexpr std::chrono::milliseconds gracePeriod{400};

    // A helper program installed beside the running daemon: both go to
    // libexecdir, and in a build directory both are in daemon/.
    static std::filesystem::path besideDaemon(const std::string& name);

private:
    // `killFd`: a pidfd of the helper's own, to end it on a malformed report.
    void readReports(int fd, int killFd);
    // Waits up to `timeout` for the helper to end; true once it has been reaped.
    bool reap(std::chrono::milliseconds timeout);

    std::string name_;
    RecordHandler onRecord_;
    pid_t pid_ = -1;
    int pidFd_ = -1;
    int status_ = 0;
    std::thread reader_;
    // Set by the reader thread, read after it is joined.
    std::optional<UnpackRecord> final_;
    std::string reportError_;
};

} // namespace bred
