// Reading a directory through its fd.
#pragma once

#include <string>
#include <vector>

namespace bred {

struct DirectoryEntry {
    std::string name;
    bool isDirectory; // never true for a symlink, whatever it points to
};

// The entries of the directory open at dirFd, without "." and "..". Throws Error on failure.
std::vector<DirectoryEntry> listDirectory(int dirFd);

} // namespace bred
