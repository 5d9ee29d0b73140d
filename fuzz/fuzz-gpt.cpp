// The partition table of a downloaded disk image, and the choice of its root
// partition. A partition the reader returns must lie where it says: sector
// aligned, not empty, its end representable.
#include "disk-image.h"
#include "errors.h"
#include "unique-fd.h"

#include <cstdint>
#include <cstdlib>
#include <sys/mman.h>
#include <unistd.h>

using namespace bred;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static UniqueFd image(memfd_create("fuzz-gpt", MFD_CLOEXEC));
    if (!image || ftruncate(image.get(), 0) < 0 || pwrite(image.get(), data, size, 0) != ssize_t(size))
        std::abort();
    std::vector<GptPartition> partitions;
    try {
        partitions = readGpt(image.get());
    } catch (const Error&) {
        return 0;
    }
    for (const auto& partition : partitions)
        if (partition.size == 0 || partition.offset % 512 != 0 || partition.size % 512 != 0 ||
            partition.offset > UINT64_MAX - partition.size)
            std::abort();
    for (const char* architecture : {"x86-64", "arm64", "riscv64", "s390x"}) {
        try {
            findRootPartition(partitions, architecture);
        } catch (const Error&) {
        }
    }
    return 0;
}
