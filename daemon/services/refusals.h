// The refusals a method call can meet, each worded once: the message says
// what is wrong and what to do, and the code gives its D-Bus error name.
#pragma once

#include "errors.h"
#include "job-manager.h"

#include <string>

namespace bred::refusal {

// InvalidName: `name` cannot name a machine.
Error invalidMachineName(const std::string& name);
// Busy with a job: machineBusy() of jobs/job-manager.h, the layer below, which
// refuses with it too.

// NoSuchMachine.
Error noSuchMachine(const std::string& name);
// AlreadyExists: a machine has the name a new one is to get; `replaceable`
// when the caller could replace it (a template, with force).
Error machineExists(const std::string& name, bool replaceable = false);
// AlreadyExists: only templates are replaced, `name` is a container.
Error notReplaceable(const std::string& name);
// Busy: the machine runs, and must not to be `verb`ed ("remove", "rename", ...).
Error running(const std::string& name, const std::string& verb);
// Busy: Start of a running machine.
Error runningAlready(const std::string& name);
// NotRunning: Stop of a stopped machine.
Error notRunning(const std::string& name);
// NotSupported: `name` is a template, read-only, never run; what the caller
// wanted to do (`action`: "start", "enable", "run commands in", "configure")
// is done to a clone of it.
Error isTemplate(const std::string& name, const std::string& action);

} // namespace bred::refusal
