#include "terminal-relay.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace bred::client {
namespace {

// Writes all of `length` bytes, waiting when `fd` is full.
void writeAll(int fd, const char* data, std::size_t length)
{
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0 && errno == EAGAIN) {
            pollfd entry{fd, POLLOUT, 0};
            poll(&entry, 1, 1000);
            continue;
        }
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return;
        data += written;
        length -= std::size_t(written);
    }
}

void copySize(int from, int to)
{
    winsize size{};
    if (ioctl(from, TIOCGWINSZ, &size) == 0)
        ioctl(to, TIOCSWINSZ, &size);
}

// The user's terminal among our stdin, stdout and stderr, or -1.
int userTerminal()
{
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO})
        if (isatty(fd))
            return fd;
    return -1;
}

} // namespace

TerminalRelay::TerminalRelay(bool everyStream) : everyStream_(everyStream)
{
    master_ = UniqueFd(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master_ || grantpt(master_.get()) < 0 || unlockpt(master_.get()) < 0)
        throw std::runtime_error(std::string("cannot open a pseudo-terminal: ") + std::strerror(errno));
    char name[128];
    if (ptsname_r(master_.get(), name, sizeof name) != 0)
        throw std::runtime_error(std::string("cannot name the pseudo-terminal: ") + std::strerror(errno));
    terminal_ = UniqueFd(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!terminal_)
        throw std::runtime_error(std::string("cannot open ") + name + ": " + std::strerror(errno));
    copySize(userTerminal(), master_.get());
    // What the pty prints goes to our stdout when that is the terminal, else to stderr when that is.
    output_ = isatty(STDOUT_FILENO) || everyStream_ ? STDOUT_FILENO : isatty(STDERR_FILENO) ? STDERR_FILENO : -1;
}

TerminalRelay::TerminalRelay(UniqueFd containerPty) : master_(std::move(containerPty)), login_(true)
{
    copySize(userTerminal(), master_.get());
    output_ = STDOUT_FILENO;
}

TerminalRelay::~TerminalRelay()
{
    if (raw_)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &savedTerminal_);
}

void TerminalRelay::start(EventLoop& loop)
{
    terminal_.reset();
    fcntl(master_.get(), F_SETFL, fcntl(master_.get(), F_GETFL) | O_NONBLOCK);
    // Keys come from our stdin when it is the terminal (or with --pty); otherwise stdin went to the command as it is.
    if (isatty(STDIN_FILENO) || everyStream_) {
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &savedTerminal_) == 0) {
            termios raw = savedTerminal_;
            cfmakeraw(&raw);
            raw_ = tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0;
        }
        loop.watchFd(STDIN_FILENO, POLLIN, [this, &loop](short events) {
            char buffer[4096];
            ssize_t n = read(STDIN_FILENO, buffer, sizeof buffer);
            if (n > 0) {
                if (login_)
                    countEscapes(buffer, std::size_t(n));
                writeAll(master_.get(), buffer, std::size_t(n));
            } else if (n == 0 || (events & (POLLHUP | POLLERR))) {
                loop.unwatchFd(STDIN_FILENO); // our input ended; the shell sees no more keys
                if (!raw_) {
                    // Piped input ended: the end of input a terminal's user types (Ctrl-D).
                    const char endOfInput = 4;
                    writeAll(master_.get(), &endOfInput, 1);
                }
            }
        });
    }
    watchMaster(loop);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGWINCH);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    resizeSignals_ = UniqueFd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (resizeSignals_)
        loop.watchFd(resizeSignals_.get(), POLLIN, [this](short) {
            signalfd_siginfo info{};
            while (read(resizeSignals_.get(), &info, sizeof info) == sizeof info) { }
            copySize(userTerminal(), master_.get());
        });
}

void TerminalRelay::watchMaster(EventLoop& loop)
{
    if (!login_) {
        loop.watchFd(master_.get(), POLLIN, [this, &loop](short events) {
            copyOutput();
            if (events & (POLLHUP | POLLERR))
                loop.unwatchFd(master_.get()); // the shell and everything it started closed the terminal
        });
        return;
    }
    masterEdges_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
    epoll_event interest{};
    interest.events = EPOLLIN | EPOLLET;
    if (!masterEdges_ || epoll_ctl(masterEdges_.get(), EPOLL_CTL_ADD, master_.get(), &interest) < 0)
        throw std::runtime_error(std::string("cannot watch the container's terminal: ") + std::strerror(errno));
    loop.watchFd(masterEdges_.get(), POLLIN, [this](short) {
        epoll_event ready[1];
        while (epoll_wait(masterEdges_.get(), ready, 1, 0) > 0) { }
        copyOutput(); // until EAGAIN, or EIO while the getty has the terminal hung up
    });
}

void TerminalRelay::countEscapes(const char* keys, std::size_t length)
{
    constexpr char escapeKey = 0x1d; // ^]
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < length; ++i) {
        if (keys[i] != escapeKey) {
            escapes_.clear();
            continue;
        }
        std::erase_if(escapes_, [&](auto pressed) { return now - pressed > std::chrono::seconds(1); });
        escapes_.push_back(now);
        if (escapes_.size() >= 3)
            escaped_ = true;
    }
}

void TerminalRelay::copyOutput()
{
    char buffer[16384];
    ssize_t n;
    while ((n = read(master_.get(), buffer, sizeof buffer)) > 0)
        if (output_ >= 0)
            writeAll(output_, buffer, std::size_t(n));
}

void TerminalRelay::finish(EventLoop& loop)
{
    copyOutput();
    loop.unwatchFd(STDIN_FILENO);
    loop.unwatchFd(master_.get());
    if (masterEdges_)
        loop.unwatchFd(masterEdges_.get());
    if (resizeSignals_)
        loop.unwatchFd(resizeSignals_.get());
}

} // namespace bred::client
