#include "unpack-report.h"

#include <fmt/format.h>
#include <utility>

namespace bred {
namespace {

constexpr std::size_t headerSize = 5;
constexpr std::size_t guidSize = 36;
// A partition: its number (4 bytes), offset and size (8 bytes each), type GUID.
constexpr std::size_t partitionPayloadSize = 4 + 8 + 8 + guidSize;

enum Tag : char {
    logTag = 'L',
    progressTag = 'P',
    deviceNodeTag = 'D',
    partitionTag = 'G',
    failureTag = 'F',
    doneTag = 'K',
};

void appendNumber(std::string& out, std::uint64_t value, std::size_t bytes)
{
    for (std::size_t i = 0; i < bytes; ++i)
        out += char((value >> (8 * i)) & 0xff);
}

std::uint64_t readNumber(std::string_view in, std::size_t bytes)
{
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < bytes; ++i)
        value |= std::uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
    return value;
}

std::string record(char tag, std::string_view payload)
{
    std::string out(1, tag);
    appendNumber(out, payload.size(), 4);
    out.append(payload);
    return out;
}

std::string_view bounded(std::string_view text, std::size_t bound) { return text.substr(0, bound); }

// A failure's code, as one byte; the codes a helper may report.
constexpr std::pair<ErrorCode, char> failureKinds[] = {
    {ErrorCode::BadArchive, 'B'},
    {ErrorCode::DownloadFailed, 'N'},
    {ErrorCode::Failed, 'F'},
};

char failureKind(ErrorCode code)
{
    for (auto [known, kind] : failureKinds)
        if (known == code)
            return kind;
    return 'F';
}

std::optional<ErrorCode> failureCode(char kind)
{
    for (auto [code, known] : failureKinds)
        if (known == kind)
            return code;
    return std::nullopt;
}

[[noreturn]] void malformed(const std::string& what)
{
    throw Error(ErrorCode::Failed, fmt::format("The helper sent a malformed report ({}).", what));
}

std::string checkedText(std::string_view payload, std::size_t bound, const char* what)
{
    if (payload.empty() || payload.size() > bound)
        malformed(fmt::format("a {} of {} bytes", what, payload.size()));
    if (payload.find('\0') != std::string_view::npos)
        malformed(fmt::format("a {} with a NUL byte", what));
    return std::string(payload);
}

// A path relative to the helper's root, without "." or ".." components or empty ones.
std::string checkedPath(std::string_view payload)
{
    std::string path = checkedText(payload, maxUnpackPathSize, "path");
    std::size_t start = 0;
    for (;;) {
        auto slash = path.find('/', start);
        std::string_view part =
            std::string_view(path).substr(start, slash == std::string::npos ? slash : slash - start);
        if (part.empty() || part == "." || part == "..")
            malformed("a path that is not plainly relative");
        if (slash == std::string::npos)
            return path;
        start = slash + 1;
    }
}

// A GPT type GUID as disk-image.h writes it: upper-case hex digits in groups of 8-4-4-4-12.
bool isGuid(std::string_view text)
{
    if (text.size() != guidSize)
        return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        const char c = text[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

} // namespace

std::string encodeUnpackRecord(const UnpackRecord& unpackRecord)
{
    struct Encoder {
        std::string operator()(const UnpackLog& log) const
        {
            return record(logTag, bounded(log.line, maxUnpackTextSize));
        }
        std::string operator()(const UnpackProgress& progress) const
        {
            std::string payload;
            appendNumber(payload, progress.done, 8);
            appendNumber(payload, progress.total, 8);
            return record(progressTag, payload);
        }
        std::string operator()(const UnpackDeviceNode& node) const { return record(deviceNodeTag, node.path); }
        std::string operator()(const UnpackPartition& reported) const
        {
            std::string payload;
            appendNumber(payload, reported.partition.number, 4);
            appendNumber(payload, reported.partition.offset, 8);
            appendNumber(payload, reported.partition.size, 8);
            payload.append(bounded(reported.partition.typeGuid, guidSize));
            return record(partitionTag, payload);
        }
        std::string operator()(const UnpackFailure& failure) const
        {
            std::string payload(1, failureKind(failure.code));
            payload.append(bounded(failure.message, maxUnpackTextSize));
            return record(failureTag, payload);
        }
        std::string operator()(const UnpackDone& done) const
        {
            std::string payload;
            appendNumber(payload, done.bytes, 8);
            return record(doneTag, payload);
        }
    };
    return std::visit(Encoder{}, unpackRecord);
}

std::optional<UnpackRecord> UnpackReportParser::next()
{
    if (buffer_.size() < headerSize)
        return std::nullopt;
    const char tag = buffer_[0];
    const std::uint64_t length = readNumber(std::string_view(buffer_).substr(1), 4);
    // The largest payload: a failure's code byte and message.
    if (length > 1 + std::max(maxUnpackTextSize, maxUnpackPathSize))
        malformed(fmt::format("a record of {} bytes", length));
    if (buffer_.size() < headerSize + length)
        return std::nullopt;
    const std::string payload = buffer_.substr(headerSize, length);
    buffer_.erase(0, headerSize + length);
    switch (tag) {
    case logTag:
        return UnpackLog{checkedText(payload, maxUnpackTextSize, "log line")};
    case progressTag: {
        if (payload.size() != 16)
            malformed("a progress record of the wrong size");
        UnpackProgress progress{readNumber(payload, 8), readNumber(std::string_view(payload).substr(8), 8)};
        if (progress.total == 0 || progress.done > progress.total)
            malformed(fmt::format("progress {} of {}", progress.done, progress.total));
        return progress;
    }
    case deviceNodeTag:
        return UnpackDeviceNode{checkedPath(payload)};
    case partitionTag: {
        if (payload.size() != partitionPayloadSize)
            malformed("a partition record of the wrong size");
        const std::string_view fields = payload;
        GptPartition partition{unsigned(readNumber(fields, 4)), std::string(fields.substr(20)),
                               readNumber(fields.substr(4), 8), readNumber(fields.substr(12), 8)};
        if (partition.number == 0 || partition.number > maxGptEntries)
            malformed(fmt::format("partition number {}", partition.number));
        if (!isGuid(partition.typeGuid))
            malformed("a partition type that is not a GUID");
        if (!partitionFits(partition, UINT64_MAX))
            malformed(
                fmt::format("partition {} at {} of {} bytes", partition.number, partition.offset, partition.size));
        return UnpackPartition{partition};
    }
    case failureTag: {
        const auto code = payload.empty() ? std::nullopt : failureCode(payload[0]);
        if (!code)
            malformed("a failure of no known kind");
        return UnpackFailure{*code, checkedText(std::string_view(payload).substr(1), maxUnpackTextSize, "message")};
    }
    case doneTag:
        if (payload.size() != 8)
            malformed("a result record of the wrong size");
        return UnpackDone{readNumber(payload, 8)};
    default:
        malformed(fmt::format("a record of the unknown kind {}", static_cast<unsigned char>(tag)));
    }
}

} // namespace bred
