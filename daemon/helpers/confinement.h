// What the helpers do to themselves before they read a byte of untrusted
// data, so that a bug reached by a hostile archive or server can do no more
// than spoil the job's own temporary tree, or its download.
#pragma once

#include <string>

namespace bred {

// Makes `root` (the job's hidden work directory) the whole file system of the
// process, writable but for no device, setuid or exec use (and for its own
// /proc/self/fd, bound at proc/self/fd; what the daemon mounted under it
// stays, with its flags); leaves it without
// network and with an IPC namespace of its own; keeps only the capabilities
// unpacking needs; forbids gaining privileges; bounds its address space; and
// installs a system-call filter. Throws Error(Failed) when any step fails: the
// helper never unpacks unconfined.
void confineUnpacker(const std::string& root);

// For bred-machined-download: the host's file system read-only (no devices,
// no setuid), its own mount and IPC namespaces, the user nobody with no
// capabilities, no new privileges, an address-space bound and the system-call
// filter, with sockets for IP, netlink and local ones. Throws Error(Failed).
void confineDownloader();

} // namespace bred
