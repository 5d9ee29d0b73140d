// A temporary directory for a test, removed with everything in it.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace bred::test {

class TempDir {
public:
    TempDir()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "bred-test.XXXXXX").string();
        if (!mkdtemp(pattern.data()))
            throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir()
    {
        // Tests may leave immutable files behind when they fail half-way.
        std::string command = "chattr -R -i '" + path_.string() + "' 2>/dev/null";
        if (geteuid() == 0) [[maybe_unused]]
            int ignored = std::system(command.c_str());
        std::error_code error;
        std::filesystem::remove_all(path_, error);
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

inline void writeFile(const std::filesystem::path& path, const std::string& content)
{
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << content;
}

// A minimal OS tree: usr/lib/os-release and the usual etc/os-release symlink.
inline void makeOsTree(const std::filesystem::path& root, const std::string& id = "debian")
{
    writeFile(root / "usr/lib/os-release", "ID=" + id + "\nPRETTY_NAME=\"Test " + id + "\"\n");
    std::filesystem::create_directories(root / "etc");
    std::filesystem::create_symlink("../usr/lib/os-release", root / "etc/os-release");
}

} // namespace bred::test
