// `bredmachine shell` and `run` on a terminal: a pseudo-terminal whose other
// end goes to the container in place of whichever of our stdin, stdout and
// stderr is the user's terminal, with that terminal in raw mode relaying keys
// in and output out, as `machinectl shell` does.
#pragma once

#include "event-loop.h"
#include "unique-fd.h"

#include <string>
#include <termios.h>

namespace bred::client {

class TerminalRelay {
public:
    // Opens the pty, sized like the user's terminal. With `everyStream` (run
    // --pty) our stdin and stdout go through it even when they are not a
    // terminal. Throws std::runtime_error.
    explicit TerminalRelay(bool everyStream = false);
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

private:
    void copyOutput();

    UniqueFd master_, terminal_, resizeSignals_;
    termios savedTerminal_{};
    bool raw_ = false;
    bool everyStream_ = false;
    int output_ = -1; // where the pty's output goes; -1: nowhere (only the echo of keys)
};

} // namespace bred::client
