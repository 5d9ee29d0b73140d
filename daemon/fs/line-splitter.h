// Splits a byte stream a container prints into lines for a job's log, with a
// cap on a line's length: a command that never prints a newline cannot make
// the daemon buffer without end.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace bred {

class LineSplitter {
public:
    // Longer lines are passed on in pieces of this many bytes.
    static constexpr std::size_t maxLineBytes = 4096;

    explicit LineSplitter(std::function<void(const std::string&)> sink) : sink_(std::move(sink)) { }

    // Passes on every complete line (without its newline) and every full piece.
    void feed(std::string_view data);
    // Passes on what is left, if anything (at the end of the stream).
    void flush();

private:
    std::function<void(const std::string&)> sink_;
    std::string pending_;
    bool pieceEnded_ = false; // the last feed ended with a full piece
};

} // namespace bred
