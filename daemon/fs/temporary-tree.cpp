#include "temporary-tree.h"

#include "atomic-file.h"
#include "directory-entries.h"
#include "errors.h"
#include "tree-removal.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bred {
namespace {

std::string hiddenName(const std::string& purpose)
{
    return fmt::format("{}{}-{}", temporaryPrefix, purpose, randomSuffix());
}

// Removes `name` if it is there; a failure leaves it for the sweep at the next start.
void removeQuietly(int parentFd, const std::string& name)
{
    struct stat st { };
    if (fstatat(parentFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return;
    try {
        removeTree(parentFd, name, [] {});
    } catch (const std::exception&) {
        // The sweep at the next start removes what is left.
    }
}

} // namespace

void makePrivateDirectory(int parentFd, const std::string& name)
{
    if (mkdirat(parentFd, name.c_str(), 0700) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot create {}: {}", name, std::strerror(errno)));
}

TemporaryTree::TemporaryTree(int parentFd, const std::string& purpose, const Make& make) :
    parentFd_(parentFd),
    name_(hiddenName(purpose))
{
    try {
        make(parentFd_, name_);
    } catch (...) {
        // No destructor runs for an object whose constructor throws: what `make` began goes here.
        removeQuietly(parentFd_, name_);
        throw;
    }
}

TemporaryTree::TemporaryTree(int parentFd, std::string name, Existing) : parentFd_(parentFd), name_(std::move(name)) { }

std::optional<TemporaryTree> TemporaryTree::moveAside(int parentFd, const std::string& name, const std::string& purpose)
{
    std::string hidden = hiddenName(purpose);
    if (renameat2(parentFd, name.c_str(), parentFd, hidden.c_str(), RENAME_NOREPLACE) < 0)
        return std::nullopt;
    return TemporaryTree(parentFd, std::move(hidden), Existing{});
}

TemporaryTree::TemporaryTree(TemporaryTree&& other) noexcept :
    parentFd_(other.parentFd_),
    name_(std::move(other.name_)),
    owned_(other.owned_)
{
    other.owned_ = false;
}

TemporaryTree::~TemporaryTree()
{
    if (owned_)
        removeQuietly(parentFd_, name_);
}

bool TemporaryTree::renameInto(const std::string& target)
{
    if (renameat2(parentFd_, name_.c_str(), parentFd_, target.c_str(), RENAME_NOREPLACE) < 0)
        return false;
    owned_ = false;
    return true;
}

bool TemporaryTree::exchangeWith(const std::string& target)
{
    if (renameat2(parentFd_, name_.c_str(), parentFd_, target.c_str(), RENAME_EXCHANGE) < 0)
        return false;
    struct stat st { };
    if (fstatat(parentFd_, name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
        unlinkat(parentFd_, name_.c_str(), 0) == 0)
        owned_ = false;
    return true;
}

void TemporaryTree::remove(const std::function<void()>& onEntryRemoved)
{
    // Tried once: a tree that stops the removal (a mount point in it) stops it again.
    owned_ = false;
    removeTree(parentFd_, name_, onEntryRemoved);
}

std::optional<std::string> TemporaryTree::purposeOf(std::string_view name)
{
    constexpr std::size_t suffixSize = 1 + 8; // "-" and randomSuffix()
    if (!name.starts_with(temporaryPrefix) || name.size() <= temporaryPrefix.size() + suffixSize ||
        name[name.size() - suffixSize] != '-')
        return std::nullopt;
    return std::string(name.substr(temporaryPrefix.size(), name.size() - temporaryPrefix.size() - suffixSize));
}

std::vector<std::string> TemporaryTree::sweep(int parentFd, const std::filesystem::path& displayDirectory)
{
    std::vector<std::string> done;
    for (const auto& entry : listDirectory(parentFd)) {
        if (!entry.name.starts_with(temporaryPrefix))
            continue;
        const std::string shown = (displayDirectory / entry.name).string();
        try {
            if (entry.isDirectory)
                removeTree(parentFd, entry.name, [] {});
            else if (unlinkat(parentFd, entry.name.c_str(), 0) < 0)
                throw Error(ErrorCode::Failed, std::strerror(errno));
            done.push_back(fmt::format("removed {}", shown));
        } catch (const Error& error) {
            done.push_back(fmt::format("could not remove {}: {}", shown, error.what()));
        }
    }
    return done;
}

} // namespace bred
