// What bred-machined-unpack does to itself before it reads a byte of the
// archive, so that a bug in an unpacker reached by a hostile archive can do
// no more than spoil the job's own temporary tree.
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

} // namespace bred
