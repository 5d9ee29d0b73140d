// bred-machined-download: fetches one http(s) URL for the daemon, confined
// (confinement.h): libcurl, TLS and whatever a server sends are handled here,
// never in the root daemon. The body goes to standard output, a pipe the
// daemon reads, hashes and passes on; reports go to descriptor 3
// (unpack-report.h): the announced size, retries, and the result.
//
// usage: bred-machined-download URL MAX_BYTES CONNECT_TIMEOUT LOW_SPEED_TIME
//          LOW_SPEED_BYTES_PER_SECOND RETRIES   (see download-request.h)
#include "confinement.h"
#include "download-request.h"
#include "errors.h"
#include "http-download.h"
#include "unpack-report.h"

#include <cerrno>
#include <csignal>
#include <exception>
#include <string_view>
#include <sys/prctl.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr int reportFd = 3;

// Writes all of `bytes` to `fd`; false when the reader is gone.
bool writeAll(int fd, std::string_view bytes)
{
    while (!bytes.empty()) {
        ssize_t n = write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        bytes.remove_prefix(std::size_t(n));
    }
    return true;
}

void report(const bred::UnpackRecord& record)
{
    if (!writeAll(reportFd, bred::encodeUnpackRecord(record)))
        _exit(2); // the daemon is gone
}

void run(const std::vector<std::string_view>& arguments)
{
    auto request = bred::parseDownloadArguments(arguments);
    if (!request)
        throw bred::Error(bred::ErrorCode::Failed, "bred-machined-download: wrong arguments (see its source)");
    bred::confineDownloader();
    // Set after becoming nobody, which clears it: a daemon that dies takes its downloads along.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::uint64_t received = 0;
    bred::DownloadCallbacks callbacks{
        [&received](const char* data, std::size_t size) {
            received += size;
            return writeAll(STDOUT_FILENO, std::string_view(data, size));
        },
        [&received](std::uint64_t total) {
            report(bred::UnpackProgress{received, total});
        },
        [](const std::string& line) { report(bred::UnpackLog{line}); },
    };
    bred::download(*request, callbacks);
    report(bred::UnpackDone{received});
}

} // namespace

int main(int argc, char** argv)
{
    // Nothing but standard input, output, error and the report pipe.
    close_range(reportFd + 1, ~0U, 0);
    try {
        run(std::vector<std::string_view>(argv + 1, argv + argc));
        return 0;
    } catch (const bred::Error& error) {
        report(bred::UnpackFailure{error.code(), error.what()});
    } catch (const std::exception& error) {
        report(bred::UnpackFailure{bred::ErrorCode::Failed, error.what()});
    }
    return 1;
}
