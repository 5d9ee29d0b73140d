// The report stream of bred-machined-unpack, which the daemon reads as
// hostile. Input: the bytes of the pipe, fed in pieces whose sizes come from
// the input's first byte. The records accepted must encode back to exactly the
// bytes they were read from.
#include "unpack-report.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace bred;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const std::size_t piece = data[0] % 16 + 1;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    UnpackReportParser parser;
    std::string accepted;
    try {
        for (std::size_t offset = 0; offset < input.size(); offset += piece) {
            parser.feed(input.substr(offset, piece));
            while (auto record = parser.next())
                accepted += encodeUnpackRecord(*record);
        }
    } catch (const Error&) {
        // A malformed record: the daemon stops the helper and fails the job.
    }
    if (input.substr(0, accepted.size()) != accepted)
        std::abort();
    return 0;
}
