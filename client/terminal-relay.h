// `bredmachine shell` and `run` on a terminal: a pseudo-terminal whose other
// end goes to the container in place of whichever of our stdin, stdout and
// stderr is the user's terminal, with that terminal in raw mode relaying keys
// in and output out, as `machinectl shell` does. `bredmachine login`: the same
// relay through a pty opened inside the container, as `machinectl login` does.
#pragma once

#include "event-loop.h"
#include "unique-fd.h"

#include <chrono>
#include <string>
#include <termios.h>
#include <vector>

namespace bred::client {

class TerminalRelay {
public:
    // Opens the pty, sized like the user's terminal. With `everyStream` (run
    // --pty) our stdin and stdout go through it even when they are not a
    // terminal. Throws std::runtime_error.
    explicit TerminalRelay(bool everyStream = false);
    // For a login: relays through `containerPty`, the master side of a pty
    // opened inside the container, whose getty hangs it up at will (before
    // each prompt, at each logout), so hangups do not end the session: ^]
    // pressed three times within a second does, as in machinectl.
    explicit TerminalRelay(UniqueFd containerPty);
    // Restores the user's terminal.
    ~TerminalRelay();
    TerminalRelay(const TerminalRelay&) = delete;
    TerminalRelay& operator=(const TerminalRelay&) = delete;

    // The pty's terminal side, to hand to the container.
    int terminalFd() const { return terminal_.get(); }
    // Once the container holds the terminal side: our copy goes, the user's
    // terminal goes raw, and the loop starts relaying (and passing on size changes).
    void start(EventLoop& loop);
    // After the command ended: whatever it printed last, then stop relaying.
    void finish(EventLoop& loop);
    // A login's user pressed ^] three times within a second.
    bool escaped() const { return escaped_; }

private:
    void copyOutput();
    void watchMaster(EventLoop& loop);
    void countEscapes(const char* keys, std::size_t length);

    UniqueFd master_, terminal_, resizeSignals_;
    // A login's master is watched edge-triggered through this epoll instance: a
    // hung-up pty stays readable (EIO) until the getty reopens it, which a
    // level-triggered poll would report without end.
    UniqueFd masterEdges_;
    termios savedTerminal_{};
    bool raw_ = false;
    bool everyStream_ = false;
    bool login_ = false;
    bool escaped_ = false;
    std::vector<std::chrono::steady_clock::time_point> escapes_;
    int output_ = -1; // where the pty's output goes; -1: nowhere (only the echo of keys)
};

} // namespace bred::client
