// bredmachine: the command-line client of bred-machined.
#include "build-config.h"
#include "bus-client.h"
#include "command-line.h"
#include "output.h"
#include "polkit-agent.h"
#include "verbs.h"

#include <exception>
#include <iostream>
#include <optional>
#include <unistd.h>

namespace bred::client {
namespace {

int run(int argc, char** argv)
{
    CommandLine line;
    try {
        line = parseCommandLine(std::vector<std::string>(argv + 1, argv + argc), isatty(STDOUT_FILENO));
        if (line.action == CommandLine::Action::ShowVersion) {
            std::cout << "bredmachine " << BRED_VERSION << "\n";
            return ExitSuccess;
        }
        if (line.action == CommandLine::Action::ShowHelp) {
            std::cout << (line.verb ? verbHelp(*line.verb) : mainHelp());
            return ExitSuccess;
        }
        if (line.verb->passesDescriptors && !line.global.host.empty())
            throw UsageError(std::string("'") + line.verb->name +
                             "' hands this terminal's file descriptors to the daemon, and descriptors cannot cross "
                             "an SSH connection; run it on the host itself: ssh -t " +
                             line.global.host + " bredmachine " + line.verb->name + " ...");
        checkCommandLine(line);
    } catch (const UsageError& error) {
        std::cerr << error.what() << "\n";
        return ExitUsage;
    }
    try {
        std::optional<PolkitAgent> agent;
        if (line.verb->mutating && line.global.askPassword && line.global.host.empty())
            agent.emplace();
        BusClient bus(line.global);
        Output output(line.global);
        return runVerb(bus, line, output);
    } catch (const UsageError& error) {
        std::cerr << error.what() << "\n";
        return ExitUsage;
    } catch (const sdbus::Error& error) {
        std::cerr << "Failed: " << (error.getMessage().empty() ? error.getName() : error.getMessage()) << "\n";
        return exitStatusForError(error);
    } catch (const std::exception& error) {
        // The terminal relay, the polkit agent and the standard library fail
        // with exceptions of their own; the user gets them in words too.
        std::cerr << "Failed: " << error.what() << "\n";
        return ExitFailure;
    }
}

} // namespace
} // namespace bred::client

int main(int argc, char** argv) { return bred::client::run(argc, argv); }
