// bred-machined: config, logging, objects, then the bus name, then the loop.
#include "build-config.h"
#include "bus-names.h"
#include "config.h"
#include "current-error.h"
#include "dbus-error.h"
#include "event-loop.h"
#include "job-registry.h"
#include "leftover-units.h"
#include "logging.h"
#include "machine-registry.h"
#include "manager-object.h"
#include "polkit-authority.h"

#include <clocale>
#include <csignal>
#include <cstring>
#include <getopt.h>
#include <iostream>
#include <poll.h>
#include "sdbus-compat.h"
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

namespace {

void printHelp()
{
    std::cout << "Usage: bred-machined [OPTIONS]\n\n"
                 "The bred-machined system service: manages systemd-nspawn machines in the machines\n"
                 "directory and offers them as org.bredos.machine1 on D-Bus.\n\n"
                 "Options:\n"
                 "  --bus=system|user|ADDRESS  bus to serve on (default: system)\n"
                 "  --config=FILE              configuration file (default: "
              << bred::defaultConfigPath
              << ")\n"
                 "  -v, --verbose              log debug messages\n"
                 "  -h, --help                 show this help\n"
                 "      --version              show the version\n";
}

std::unique_ptr<sdbus::IConnection> connectBus(const std::string& bus)
{
    if (bus == "system")
        return sdbus::createSystemBusConnection();
    if (bus == "user")
        return sdbus::createSessionBusConnection();
    return sdbus::createSessionBusConnectionWithAddress(bus);
}

} // namespace

int main(int argc, char** argv)
{
    std::string busName = "system";
    std::string configPath = bred::defaultConfigPath;
    bool verbose = false;
    enum { optionBus = 0x100, optionConfig, optionVersion };
    const option options[] = {
        {"bus", required_argument, nullptr, optionBus},   {"config", required_argument, nullptr, optionConfig},
        {"verbose", no_argument, nullptr, 'v'},           {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, optionVersion}, {nullptr, 0, nullptr, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "vh", options, nullptr)) != -1;) {
        switch (c) {
        case optionBus:
            busName = optarg;
            break;
        case optionConfig:
            configPath = optarg;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            printHelp();
            return 0;
        case optionVersion:
            std::cout << "bred-machined " << BRED_VERSION << "\n";
            return 0;
        default:
            return 2;
        }
    }
    bred::setupLogging(verbose);
    // Clones and unpacking keep many files open; systemd's hard limit is generous, its soft one is not.
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    // Archive member names are UTF-8; in the C locale libarchive warns about each.
    setlocale(LC_CTYPE, "C.UTF-8");

    try {
        bred::Config config = bred::loadConfig(configPath);

        // SIGTERM and SIGINT arrive through the loop, so shutdown happens between two events.
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGTERM);
        sigaddset(&signals, SIGINT);
        sigprocmask(SIG_BLOCK, &signals, nullptr);
        // A reader that stops early (an unpacker on a bad archive) must not kill the daemon.
        signal(SIGPIPE, SIG_IGN);
        bred::UniqueFd signalFd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));

        auto bus = connectBus(busName);
        bred::EventLoop loop;
        loop.attachBus(*bus);
        loop.setFailureHandler([] { bred::logCurrentError("A handler on the event loop"); });
        loop.watchFd(signalFd.get(), POLLIN, [&](short) {
            signalfd_siginfo info{};
            if (read(signalFd.get(), &info, sizeof info) == sizeof info) {
                spdlog::info("Received {}, shutting down", strsignal(static_cast<int>(info.ssi_signo)));
                loop.quit(0);
            }
        });

        // A daemon killed mid-job left work half done: finish or undo it before anyone can call.
        bred::MachineStore store(config);
        for (const auto& action : store.recoverInterruptedJobs())
            spdlog::info("Recovering from an interrupted job: {}", action);
        for (const auto& action : bred::stopLeftoverRunUnits())
            spdlog::info("Recovering from an interrupted job: {}", action);
        bred::PolkitAuthority polkit(*bus);
        bred::JobManager jobs(config.maxJobs, config.maxJobsPerCaller);
        bred::JobRegistry jobRegistry(*bus, loop, jobs, polkit);
        bred::MachineRegistry machines(*bus, loop, store, config);
        bred::UnitManager units(*bus, loop);
        // Containers made before the daemon stated how they start: `machinectl start` gave them a user
        // namespace and a veth link that `bredmachine start` does not.
        bool reloadNeeded = false;
        for (const auto& action : store.addMissingStartSettings(reloadNeeded))
            spdlog::info("Settings for machinectl: {}", action);
        if (reloadNeeded)
            units.reload([](std::optional<bred::Error> error) {
                if (error)
                    spdlog::warn("machinectl's units keep their old settings until systemd reloads: {}", error->what());
            });
        bred::ManagerObject manager(*bus, config, store, machines, jobs, jobRegistry, polkit, units);
        // Enabled follows the unit files, also when a person runs systemctl enable or disable.
        units.onUnitFilesChanged([&machines] { machines.refreshAll(); });
        // A job may have changed the machine's tree: measure it again.
        jobRegistry.onJobEnded([&machines](const std::string& machine) { machines.measureDiskUsage(machine); });
        machines.refreshAll();

        bus->requestName(bred::dbus::ServiceName{bred::bus::serviceName});
        sd_notify(0, "READY=1");
        spdlog::info("bred-machined {} serving {} machines from {}", BRED_VERSION, machines.list().size(),
                     config.machinesDirectory.string());
        int exitCode = loop.run();
        sd_notify(0, "STOPPING=1");
        jobRegistry.cancelAll();
        bus->releaseName(bred::dbus::ServiceName{bred::bus::serviceName});
        return exitCode;
    } catch (const bred::Error& error) {
        spdlog::critical("{}", error.what());
    } catch (const sdbus::Error& error) {
        spdlog::critical("D-Bus: {}: {}", error.getName(), error.getMessage());
    } catch (const std::exception& error) {
        spdlog::critical("{}", error.what());
    }
    return 1;
}
