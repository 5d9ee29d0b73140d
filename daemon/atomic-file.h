// Files replaced whole: readers see the old content or the new, never half.
#pragma once

#include <filesystem>
#include <string>
#include <sys/types.h>

namespace bred {

// A short random suffix for the hidden names of temporary files and trees.
std::string randomSuffix();

// Writes `text` to a hidden temporary file beside `path`, syncs it and renames
// it over `path`. Creates the parent directory if missing. Throws Error.
void writeFileAtomically(const std::filesystem::path& path, const std::string& text, mode_t mode = 0644);

} // namespace bred
