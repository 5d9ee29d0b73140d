#include "line-splitter.h"

#include <algorithm>

namespace bred {

void LineSplitter::feed(std::string_view data)
{
    // A newline right after a full piece ends that piece, not an empty line.
    if (pieceEnded_ && !data.empty() && data.front() == '\n')
        data.remove_prefix(1);
    pieceEnded_ = false;
    while (!data.empty()) {
        auto newline = data.find('\n');
        std::size_t room = maxLineBytes - pending_.size();
        if (newline != std::string_view::npos && newline <= room) {
            pending_.append(data.substr(0, newline));
            data.remove_prefix(newline + 1);
            sink_(pending_);
            pending_.clear();
            continue;
        }
        std::size_t taken = std::min(room, data.size());
        pending_.append(data.substr(0, taken));
        data.remove_prefix(taken);
        if (pending_.size() == maxLineBytes) {
            sink_(pending_);
            pending_.clear();
            pieceEnded_ = data.empty();
            if (!data.empty() && data.front() == '\n')
                data.remove_prefix(1);
        }
    }
}

void LineSplitter::flush()
{
    if (!pending_.empty())
        sink_(pending_);
    pending_.clear();
    pieceEnded_ = false;
}

} // namespace bred
