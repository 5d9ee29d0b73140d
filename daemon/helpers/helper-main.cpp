#include "helper-main.h"

#include "errors.h"

#include <cerrno>
#include <exception>
#include <string>
#include <unistd.h>

namespace bred {
namespace {

constexpr int reportFd = 3;

} // namespace

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

void report(const UnpackRecord& record)
{
    if (!writeAll(reportFd, encodeUnpackRecord(record)))
        _exit(2); // the daemon is gone
}

int runHelper(int argc, char** argv, void (*work)(const std::vector<std::string_view>& arguments))
{
    // Nothing but standard input, output, error and the report pipe.
    close_range(reportFd + 1, ~0U, 0);
    try {
        work(std::vector<std::string_view>(argv + 1, argv + argc));
        return 0;
    } catch (const Error& error) {
        report(UnpackFailure{error.code(), error.what()});
    } catch (const std::exception& error) {
        report(UnpackFailure{ErrorCode::Failed, error.what()});
    }
    return 1;
}

} // namespace bred
