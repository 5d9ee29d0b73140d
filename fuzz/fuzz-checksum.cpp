// A distribution's checksum file, downloaded. Input: one byte choosing the
// format, the file name to look up, a newline, then the checksum file.
#include "checksum.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace bred;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    constexpr ChecksumFormat formats[] = {ChecksumFormat::Sha256Sums, ChecksumFormat::Sha512Sums,
                                          ChecksumFormat::Md5Sums, ChecksumFormat::FedoraChecksum};
    ChecksumFormat format = formats[data[0] % std::size(formats)];
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto newline = rest.find('\n');
    if (newline == std::string_view::npos)
        return 0;
    std::string_view fileName = rest.substr(0, newline);
    auto found = findChecksum(format, rest.substr(newline + 1), fileName);
    if (found && !isHexDigest(found->hex, found->algorithm))
        std::abort();
    return 0;
}
