// What bred-machined-unpack and bred-machined-download tell the daemon, over
// a pipe, as they work: a stream of small records, each a tag byte, its
// payload's length (4 bytes, little-endian) and the payload. The daemon treats the helper as hostile, so
// the parser accepts only well-formed records of the known kinds and bounds.
#pragma once

#include "disk-image.h"
#include "errors.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace bred {

// A line for the job's log.
struct UnpackLog {
    std::string line;
};
// `done` of `total` steps (layers) are unpacked; or, from the downloader,
// `done` bytes were sent when the server announced `total` for the whole body.
struct UnpackProgress {
    std::uint64_t done;
    std::uint64_t total;
};
// A device node was unpacked at `path`, relative to the helper's root.
struct UnpackDeviceNode {
    std::string path;
};
// The root partition of a disk image, as the helper read it from the GPT.
struct UnpackPartition {
    GptPartition partition;
};
// The work failed; the helper exits after this record.
struct UnpackFailure {
    ErrorCode code; // BadArchive, DownloadFailed or Failed (any other is sent as Failed)
    std::string message;
};
// The work succeeded, writing `bytes` of file data (unpacked or downloaded); the helper exits after this record.
struct UnpackDone {
    std::uint64_t bytes;
};

using UnpackRecord =
    std::variant<UnpackLog, UnpackProgress, UnpackDeviceNode, UnpackPartition, UnpackFailure, UnpackDone>;

// Bounds of a payload: a log line or message, a path.
constexpr std::size_t maxUnpackTextSize = 4096;
constexpr std::size_t maxUnpackPathSize = 4096;

// The bytes of one record; text longer than its bound is cut.
std::string encodeUnpackRecord(const UnpackRecord& record);

// Reads records from the bytes of the pipe as they come, in any pieces.
class UnpackReportParser {
public:
    void feed(std::string_view bytes) { buffer_.append(bytes); }
    // The next complete record, or nullopt until more bytes come. Throws
    // Error(Failed) naming what is wrong with a malformed record.
    std::optional<UnpackRecord> next();
    // True when no part of a record is pending.
    bool empty() const { return buffer_.empty(); }

private:
    std::string buffer_;
};

} // namespace bred
