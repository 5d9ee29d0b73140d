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
#include "helper-main.h"
#include "http-download.h"

#include <csignal>
#include <string_view>
#include <sys/prctl.h>
#include <unistd.h>
#include <vector>

namespace {

using bred::report;

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
            return bred::writeAll(STDOUT_FILENO, std::string_view(data, size));
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

int main(int argc, char** argv) { return bred::runHelper(argc, argv, run); }
