#include "confinement.h"

#include "errors.h"
#include "unique-fd.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <initializer_list>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace bred {
namespace {

constexpr rlim_t unpackerAddressSpace = 4ull << 30;
constexpr rlim_t downloaderAddressSpace = 1ull << 30;
// Who the downloader runs as: nobody, which owns nothing on the host.
constexpr uid_t nobody = 65534;

// The capabilities unpacking needs, each for what libarchive does with it:
//  CHOWN: give entries their numeric owners;
//  FOWNER: set modes, times, ACLs and xattrs of entries now owned by others;
//  FSETID: keep setuid and setgid bits through chown and writes;
//  DAC_OVERRIDE: write into and read from what the archive made unreadable or
//    unwritable (a 0555 directory, a layer's 0000 file, blobs of an image, a
//    disk image's tree, read-only mounted);
//  MKNOD: recreate the tree's device nodes (the mount is nodev: none can be opened);
//  SETFCAP: restore file capabilities (security.capability xattrs).
// Not kept, among others: SYS_ADMIN (trusted.* xattrs are skipped with a
// warning), DAC_READ_SEARCH (open_by_handle_at reaches the whole file system).
constexpr int keptCapabilities[] = {CAP_CHOWN, CAP_FOWNER, CAP_FSETID, CAP_DAC_OVERRIDE, CAP_MKNOD, CAP_SETFCAP};

[[noreturn]] void fail(const char* step)
{
    throw Error(ErrorCode::Failed, fmt::format("cannot confine the helper ({}): {}", step, std::strerror(errno)));
}

void limitAddressSpace(rlim_t bytes)
{
    const rlimit addressSpace{bytes, bytes};
    if (setrlimit(RLIMIT_AS, &addressSpace) < 0)
        fail("RLIMIT_AS");
}

int lastCapability()
{
    UniqueFd fd(open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC));
    char text[16] = "";
    if (!fd || read(fd.get(), text, sizeof text - 1) <= 0)
        fail("reading cap_last_cap");
    return std::atoi(text);
}

void enterRoot(const std::string& root)
{
    if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) < 0)
        fail("unshare");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
        fail("making mounts private");
    // Recursively, for a disk image's root partition the daemon mounted (read-only,
    // nosuid, nodev, noexec) inside the work directory: the bind keeps those
    // flags, and without CAP_SYS_ADMIN nor mount calls nothing here changes them.
    if (mount(root.c_str(), root.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
        fail("binding the work directory");
    if (mount(nullptr, root.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
        fail("remounting the work directory");
    // fs/in-root.cpp reopens what it opened O_PATH through /proc/self/fd: that
    // directory, of this process's own descriptors, is all of /proc it gets.
    const std::string fdDirectory = root + "/proc/self/fd";
    for (const std::string& directory : {root + "/proc", root + "/proc/self", fdDirectory})
        if (mkdir(directory.c_str(), 0555) < 0 && errno != EEXIST)
            fail("making /proc/self/fd");
    const std::string ownFds = fmt::format("/proc/{}/fd", getpid());
    if (mount(ownFds.c_str(), fdDirectory.c_str(), nullptr, MS_BIND, nullptr) < 0)
        fail("binding /proc/self/fd");
    // The work directory becomes "/", and the host's tree is detached.
    if (chdir(root.c_str()) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
        fail("pivot_root");
    if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        fail("detaching the host's file system");
}

void keepCapabilities(int last)
{
    std::uint64_t kept = 0;
    for (int capability : keptCapabilities)
        kept |= std::uint64_t(1) << capability;
    for (int capability = 0; capability <= last; ++capability)
        if (!(kept & (std::uint64_t(1) << capability)) && prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) < 0)
            fail("dropping from the bounding set");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        fail("clearing ambient capabilities");
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    for (int i = 0; i < 2; ++i)
        data[i].effective = data[i].permitted = std::uint32_t(kept >> (32 * i));
    if (syscall(SYS_capset, &header, data) < 0)
        fail("capset");
}

// Everything is allowed but these groups: the filter is a second wall behind
// the namespaces and the dropped capabilities, for the calls that reach the
// kernel's less travelled code or leave the sandbox; one line per group.
// clang-format off
constexpr const char* deniedCalls[] = {
    // mounts and namespaces
    "mount", "umount2", "pivot_root", "chroot", "setns", "open_tree", "move_mount", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    // other processes, new programs, new processes (threads are created with clone below)
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "execve", "execveat", "fork", "vfork",
    // the kernel itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key",
    "iopl", "ioperm", "syslog", "lookup_dcookie", "fanotify_init",
    // the host's state
    "reboot", "swapon", "swapoff", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "acct", "quotactl",
    "sethostname", "setdomainname", "vhangup",
    // files by handle, past every path check
    "open_by_handle_at", "name_to_handle_at",
    // privileges
    "capset", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid",
    "setfsgid",
};
// clang-format on

// A comparison of a call's first argument: what libseccomp's SCMP_A0() makes,
// which is a C compound literal.
scmp_arg_cmp firstArgument(scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) { return {0, op, a, b}; }

// `socketFamilies`: the address families the helper may open sockets of.
void installFilter(std::initializer_list<int> socketFamilies)
{
    std::unique_ptr<void, decltype(&seccomp_release)> filter(seccomp_init(SCMP_ACT_ALLOW), seccomp_release);
    if (!filter)
        fail("seccomp_init");
    auto check = [](int result, const char* step) {
        if (result < 0) {
            errno = -result;
            fail(step);
        }
    };
    for (const char* name : deniedCalls) {
        int call = seccomp_syscall_resolve_name(name);
        if (call == __NR_SCMP_ERROR)
            continue; // not a call of this architecture
        check(seccomp_rule_add(filter.get(), SCMP_ACT_ERRNO(EPERM), call, 0), name);
    }
    // Threads only: a new process would need CLONE_THREAD off. clone3 passes its
    // flags in memory a filter cannot read, so it reports itself missing and
    // the C library falls back to clone.
    check(seccomp_rule_add(filter.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                           firstArgument(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)),
          "clone");
    check(seccomp_rule_add(filter.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
    // The extractor gives its thread a working directory of its own; no other unsharing.
    check(seccomp_rule_add(filter.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                           firstArgument(SCMP_CMP_NE, CLONE_FS)),
          "unshare");
    // Sockets of the allowed families only: a rule denies each other family
    // the kernel knows, and one more any family past those.
    for (int call : {SCMP_SYS(socket), SCMP_SYS(socketpair)}) {
        for (int family = 0; family < AF_MAX; ++family)
            if (std::find(socketFamilies.begin(), socketFamilies.end(), family) == socketFamilies.end())
                check(seccomp_rule_add(filter.get(), SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1,
                                       firstArgument(SCMP_CMP_EQ, scmp_datum_t(family))),
                      "socket");
        check(seccomp_rule_add(filter.get(), SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1, firstArgument(SCMP_CMP_GE, AF_MAX)),
              "socket");
    }
    check(seccomp_load(filter.get()), "seccomp_load");
}

} // namespace

void confineUnpacker(const std::string& root)
{
    const int last = lastCapability(); // read while /proc is still there
    limitAddressSpace(unpackerAddressSpace);
    enterRoot(root);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail("no_new_privs");
    keepCapabilities(last);
    // No network in the namespace anyway.
    installFilter({AF_UNIX});
}

void confineDownloader()
{
    limitAddressSpace(downloaderAddressSpace);
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC) < 0)
        fail("unshare");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
        fail("making mounts private");
    // The host's tree, read-only and without devices or setuid programs, for
    // what libcurl reads: CA certificates, the resolver's configuration, NSS.
    mount_attr attributes{};
    attributes.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &attributes, sizeof attributes) < 0)
        fail("making the file system read-only");
    // As nobody, the process has no capability left, and root's files that
    // are not world-readable (the machines' trees, keys) stay closed to it.
    if (setgroups(0, nullptr) < 0 || setresgid(nobody, nobody, nobody) < 0 || setresuid(nobody, nobody, nobody) < 0)
        fail("becoming nobody");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail("no_new_privs");
    // The resolver asks the kernel for addresses over netlink.
    installFilter({AF_UNIX, AF_INET, AF_INET6, AF_NETLINK});
}

} // namespace bred
