#include "gpg-verify.h"

#include "errors.h"
#include "unique-fd.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <csignal>
#include <iterator>
#include <spawn.h>
#include <sstream>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace bred {
namespace {

constexpr const char* gpgvPath = "/usr/bin/gpgv";

// A private file for gpgv to read; removed when it goes.
class TemporaryFile {
public:
    explicit TemporaryFile(const std::string& content)
    {
        char pattern[] = "/tmp/bred-gpgv.XXXXXX";
        fd_ = UniqueFd(mkostemp(pattern, O_CLOEXEC));
        if (!fd_)
            throw Error(ErrorCode::Failed, fmt::format("cannot create a temporary file: {}", std::strerror(errno)));
        path_ = pattern;
        for (std::size_t done = 0; done < content.size();) {
            ssize_t n = write(fd_.get(), content.data() + done, content.size() - done);
            if (n <= 0)
                throw Error(ErrorCode::Failed, "cannot write a temporary file");
            done += std::size_t(n);
        }
    }
    ~TemporaryFile() { unlink(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    UniqueFd fd_;
    std::string path_;
};

// gpgv running with its output collected; stdin from `stdinFd`, or /dev/null.
struct GpgvRun {
    pid_t pid = -1;
    UniqueFd output;
};

GpgvRun spawnGpgv(std::vector<std::string> args, int stdinFd)
{
    if (access(gpgvPath, X_OK) != 0)
        throw Error(ErrorCode::NotSupported, "Signatures cannot be checked: gpgv is not installed (package gpgv).");
    int output[2];
    if (pipe2(output, O_CLOEXEC) < 0)
        throw Error(ErrorCode::Failed, "cannot create a pipe for gpgv");
    UniqueFd readEnd(output[0]), writeEnd(output[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), STDERR_FILENO);
    posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), STDOUT_FILENO);
    if (stdinFd >= 0)
        posix_spawn_file_actions_adddup2(&actions, stdinFd, STDIN_FILENO);
    else
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    std::vector<char*> argv;
    for (auto& arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);
    char* envp[] = {const_cast<char*>("LC_ALL=C"), nullptr};
    GpgvRun run;
    int spawned = posix_spawn(&run.pid, gpgvPath, &actions, nullptr, argv.data(), envp);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot run gpgv: {}", std::strerror(spawned)));
    run.output = std::move(readEnd);
    return run;
}

// Waits for gpgv and throws with what it said unless the signature is good; returns the signing key.
std::string finishGpgv(GpgvRun& run, const std::string& keyring)
{
    std::string output;
    char buffer[4096];
    for (ssize_t n; (n = read(run.output.get(), buffer, sizeof buffer)) > 0;)
        output.append(buffer, std::size_t(n));
    int status = 0;
    waitpid(run.pid, &status, 0);
    run.pid = -1;
    GpgvOutput parsed = parseGpgvOutput(output);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || parsed.signingKey.empty())
        throw Error(ErrorCode::VerificationFailed,
                    fmt::format("The signature does not verify with {}: {}", keyring, parsed.messages));
    return parsed.signingKey;
}

} // namespace

GpgvOutput parseGpgvOutput(const std::string& output)
{
    constexpr std::string_view statusPrefix = "[GNUPG:] ";
    GpgvOutput parsed;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with(statusPrefix)) {
            parsed.messages += line + "\n";
            continue;
        }
        // VALIDSIG <fingerprint> <date> <timestamp> <expiry> <version> <reserved> <algorithms...> <class> [<primary>]
        std::istringstream fields(line.substr(statusPrefix.size()));
        std::vector<std::string> words{std::istream_iterator<std::string>(fields), {}};
        if (words.size() < 2 || words[0] != "VALIDSIG")
            continue;
        parsed.signingKey = words.size() >= 11 ? words[10] : words[1];
    }
    auto isHexDigit = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    if (parsed.signingKey.size() < 32 || !std::all_of(parsed.signingKey.begin(), parsed.signingKey.end(), isHexDigit))
        parsed.signingKey.clear();
    return parsed;
}

std::string verifySignature(const std::string& keyring, const std::string& signature, const std::string& data)
{
    TemporaryFile signatureFile(signature);
    std::optional<TemporaryFile> dataFile;
    std::vector<std::string> args{gpgvPath, "--quiet", "--status-fd", "1", "--keyring", keyring, signatureFile.path()};
    if (!data.empty()) {
        dataFile.emplace(data);
        args.push_back(dataFile->path());
    }
    auto run = spawnGpgv(args, -1);
    return finishGpgv(run, keyring);
}

ClearSignedText verifyClearSigned(const std::string& keyring, const std::string& clearSigned)
{
    TemporaryFile signedFile(clearSigned);
    TemporaryFile output("");
    // gpgv writes the signed text to --output, replacing the empty file.
    auto run = spawnGpgv({gpgvPath, "--quiet", "--status-fd", "1", "--keyring", keyring, "--output",
                          output.path() + ".out", signedFile.path()},
                         -1);
    struct RemoveOutput {
        std::string path;
        ~RemoveOutput() { unlink(path.c_str()); }
    } removeOutput{output.path() + ".out"};
    ClearSignedText verified;
    verified.signingKey = finishGpgv(run, keyring);
    UniqueFd fd(open(removeOutput.path.c_str(), O_RDONLY | O_CLOEXEC));
    char buffer[4096];
    for (ssize_t n; fd && (n = read(fd.get(), buffer, sizeof buffer)) > 0;)
        verified.text.append(buffer, std::size_t(n));
    return verified;
}

struct StreamingSignatureCheck::Process {
    TemporaryFile signatureFile;
    UniqueFd input;
    GpgvRun run;
    explicit Process(const std::string& signature) : signatureFile(signature) { }
};

StreamingSignatureCheck::StreamingSignatureCheck(const std::string& keyring, const std::string& signature) :
    process_(std::make_unique<Process>(signature)),
    keyring_(keyring)
{
    int input[2];
    if (pipe2(input, O_CLOEXEC) < 0)
        throw Error(ErrorCode::Failed, "cannot create a pipe for gpgv");
    UniqueFd readEnd(input[0]);
    process_->input = UniqueFd(input[1]);
    process_->run =
        spawnGpgv({gpgvPath, "--quiet", "--status-fd", "1", "--keyring", keyring, process_->signatureFile.path(), "-"},
                  readEnd.get());
}

StreamingSignatureCheck::~StreamingSignatureCheck()
{
    if (process_->run.pid > 0) {
        kill(process_->run.pid, SIGTERM);
        waitpid(process_->run.pid, nullptr, 0);
    }
}

void StreamingSignatureCheck::feed(const char* data, std::size_t size)
{
    while (size > 0 && process_->input) {
        ssize_t n = write(process_->input.get(), data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            process_->input.reset(); // gpgv gave up early; finish() reports why
            return;
        }
        data += n;
        size -= std::size_t(n);
    }
}

std::string StreamingSignatureCheck::finish()
{
    process_->input.reset();
    return finishGpgv(process_->run, keyring_);
}

} // namespace bred
