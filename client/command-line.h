// The command line of bredmachine: its verbs, each with its own options, the
// global options, parsing and help. Pure: no bus, so it is unit-tested alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bred::client {

// A mistake in the command line: exit status 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class JsonMode { Off, Pretty, Short };

struct GlobalOptions {
    JsonMode json = JsonMode::Off;
    bool legend = true;
    bool quiet = false;
    bool progress = true;
    bool askPassword = true;
    std::string host; // -H: a remote host's daemon over SSH
};

struct OptionSpec {
    const char* longName;
    char shortName;        // 0: none
    const char* valueName; // nullptr: a flag
    const char* help;
};

struct VerbSpec {
    const char* name;
    const char* arguments; // as the usage line shows them
    const char* summary;   // one line, for the verb list
    const char* description;
    std::size_t minArgs, maxArgs;
    std::vector<OptionSpec> options;
    // After this many arguments the rest is a command, taken as it is (run,
    // shell); SIZE_MAX: never.
    std::size_t commandAfter = SIZE_MAX;
    // It hands the daemon file descriptors of ours, which cannot cross SSH.
    bool passesDescriptors = false;
    // It asks polkit, so the client runs an authentication agent.
    bool mutating = false;
};

const std::vector<VerbSpec>& verbSpecs();
const std::vector<OptionSpec>& globalOptionSpecs();

struct CommandLine {
    enum class Action { RunVerb, ShowHelp, ShowVersion };
    Action action = Action::RunVerb;
    const VerbSpec* verb = nullptr; // also set for `VERB --help`
    std::vector<std::string> arguments;
    GlobalOptions global;
    // The verb's options by long name, each occurrence's value ("" for flags).
    std::map<std::string, std::vector<std::string>> options;

    bool has(const std::string& name) const { return options.count(name) != 0; }
    // The last value given, or "".
    std::string value(const std::string& name) const;
    std::vector<std::string> values(const std::string& name) const;
};

// `arguments` excludes the program name. Throws UsageError.
CommandLine parseCommandLine(const std::vector<std::string>& arguments, bool stdoutIsTerminal);

// `path` made absolute against `cwd` (itself absolute) and normalized: no
// ".", "..", doubled or trailing slashes.
std::string absolutePath(const std::string& path, const std::string& cwd);

// The compression of `export`: `given` (--compression, checked; throws
// UsageError) or else FILE's suffix: .tar.gz/.tgz gz, .tar.xz/.txz xz, .tar
// none, anything else (.tar.zst, .tzst, '-') zst.
std::string exportCompression(const std::string& file, const std::string& given);

std::string mainHelp();
std::string verbHelp(const VerbSpec& verb);

} // namespace bred::client
