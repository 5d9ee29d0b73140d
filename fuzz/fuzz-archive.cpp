// A rootfs archive (any compression libarchive reads), unpacked into a fresh
// scratch tree as ImportTemplate and CreateTemplate do. Anything written
// beside the tree aborts (see scratch-arena.h).
#include "archive-extractor.h"
#include "errors.h"
#include "scratch-arena.h"

#include <cstdint>
#include <cstdlib>
#include <sys/mman.h>
#include <unistd.h>

using namespace bred;

namespace {
fuzz::ScratchArena* arena;
}

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    arena = new fuzz::ScratchArena;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    UniqueFd input(memfd_create("fuzz-archive", MFD_CLOEXEC));
    if (!input || write(input.get(), data, size) != ssize_t(size) || lseek(input.get(), 0, SEEK_SET) < 0)
        std::abort();
    ExtractOptions options;
    options.maxTreeBytes = 64 << 20;
    try {
        extractArchive(input.get(), arena->freshTree(), options);
    } catch (const Error&) {
    }
    arena->finish();
    return 0;
}
