#include "build-config.h"
#include "config.h"
#include "error-code.h"
#include "errors.h"
#include "nspawn-settings.h"
#include "temp-dir.h"

#include "catch.h"

#include <fstream>
#include <sstream>

using namespace bred;

TEST_CASE("built-in defaults apply without a configuration file")
{
    auto config = loadConfig("/nonexistent/bred-machined.toml");
    CHECK(config.machinesDirectory == "/var/lib/machines");
    CHECK(config.settingsDirectory == "/etc/systemd/nspawn");
    CHECK(config.maxJobs == 16);
    CHECK(config.maxJobsPerCaller == 4);
}

TEST_CASE("the configuration file overrides the defaults")
{
    auto config = parseConfig("[daemon]\n"
                              "machines_directory = \"/srv/machines/\"\n"
                              "settings_directory = \"/srv/nspawn\"\n"
                              "max_jobs = 3\n"
                              "max_jobs_per_caller = 2\n",
                              "test.toml");
    CHECK(config.machinesDirectory == "/srv/machines/");
    CHECK(config.settingsDirectory == "/srv/nspawn");
    CHECK(config.maxJobs == 3);
    CHECK(config.maxJobsPerCaller == 2);
}

TEST_CASE("the example configuration installed as documentation holds the built-in defaults")
{
    std::ifstream file(std::string(BRED_SOURCE_DIR) + "/daemon/data/bred-machined.example.toml");
    REQUIRE(file);
    std::ostringstream text;
    text << file.rdbuf();
    // meson fills in @datadir@ on installation, as it does for the daemon's BRED_DATADIR.
    std::string example = text.str();
    for (auto at = example.find("@datadir@"); at != std::string::npos; at = example.find("@datadir@"))
        example.replace(at, 9, BRED_DATADIR);

    auto config = parseConfig(example, "bred-machined.example.toml");
    auto defaults = loadConfig("/nonexistent/bred-machined.toml");
    CHECK(config.machinesDirectory == defaults.machinesDirectory);
    CHECK(config.settingsDirectory == defaults.settingsDirectory);
    CHECK(config.unitDirectory == defaults.unitDirectory);
    CHECK(config.maxJobs == defaults.maxJobs);
    CHECK(config.maxJobsPerCaller == defaults.maxJobsPerCaller);
    CHECK(config.catalogFile == defaults.catalogFile);
    CHECK(config.catalogDirectory == defaults.catalogDirectory);
    CHECK(config.maxDownloadBytes == defaults.maxDownloadBytes);
    CHECK(config.maxTreeBytes == defaults.maxTreeBytes);
    CHECK(config.connectTimeout == defaults.connectTimeout);
    CHECK(config.lowSpeedTimeout == defaults.lowSpeedTimeout);
    CHECK(config.downloadRetries == defaults.downloadRetries);
    CHECK(config.recipeDirectory == defaults.recipeDirectory);
    CHECK(config.localRecipeDirectory == defaults.localRecipeDirectory);
    CHECK(config.recipeVariables.empty());
}

TEST_CASE("configuration errors name the file and the key")
{
    auto errorOf = [](const char* text) {
        try {
            parseConfig(text, "bad.toml");
        } catch (const Error& error) {
            CHECK(error.code() == ErrorCode::InvalidArgs);
            return std::string(error.what());
        }
        return std::string();
    };
    CHECK_THAT(errorOf("[daemon]\nmachines_directory = \"relative\"\n"), ContainsSubstring("machines_directory"));
    CHECK_THAT(errorOf("[daemon]\nmax_jobs = 0\n"), ContainsSubstring("max_jobs"));
    CHECK_THAT(errorOf("[daemon]\nmax_jobs = \"many\"\n"), ContainsSubstring("max_jobs"));
    CHECK_THAT(errorOf("[daemon]\nmax_jobs_per_caller = 0\n"), ContainsSubstring("max_jobs_per_caller"));
    CHECK_THAT(errorOf("[daemon\n"), ContainsSubstring("bad.toml:1"));
}

TEST_CASE("nspawn settings give binds and the host side of the network")
{
    auto settings = parseNspawnSettings("# comment\n"
                                        "[Exec]\nBoot=yes\n"
                                        "[Files]\n"
                                        "Bind=/srv/data\n"
                                        "Bind=/home/me/src:/src\n"
                                        "BindReadOnly=/etc/ssl/certs:/certs:norbind\n"
                                        "Bind=/with\\:colon:/dst\n"
                                        "[Network]\nVirtualEthernet=yes\n");
    REQUIRE(settings.binds.size() == 4);
    CHECK(settings.binds[0] == BindMount{"/srv/data", "/srv/data", false});
    CHECK(settings.binds[1] == BindMount{"/home/me/src", "/src", false});
    CHECK(settings.binds[2] == BindMount{"/etc/ssl/certs", "/certs", true});
    CHECK(settings.binds[3] == BindMount{"/with:colon", "/dst", false});
    CHECK(settings.network.mode == "veth");

    CHECK(parseNspawnSettings("[Network]\nBridge=br0\n").network == NetworkSettings{"bridge", "br0"});
    CHECK(parseNspawnSettings("[Network]\nPrivate=yes\n").network.mode == "private");
    CHECK(parseNspawnSettings("").network.mode == "host");
    CHECK(parseNspawnSettings("[Files]\nBind=/a\nBind=\nBind=/b\n").binds.size() == 1);
}

TEST_CASE("the settings editor changes our keys and keeps a person's")
{
    std::string original = "# my container\n"
                           "[Exec]\nBoot=yes\nEnvironment=LANG=C\n\n"
                           "[Files]\nBind=/srv/a:/a\n# keep this comment\nPrivateUsersOwnership=auto\n";
    NspawnSettingsEditor editor(original);
    editor.setBind({"/srv/b", "/b", true});
    editor.setBind({"/srv/a2", "/a", false});
    editor.setNetwork({"veth", ""});
    auto text = editor.text();
    CHECK_THAT(text, ContainsSubstring("# my container\n[Exec]\nBoot=yes\nEnvironment=LANG=C\n"));
    CHECK_THAT(text, ContainsSubstring("# keep this comment\nPrivateUsersOwnership=auto\n"));
    CHECK_THAT(text, ContainsSubstring("BindReadOnly=/srv/b:/b\n"));
    CHECK_THAT(text, !ContainsSubstring("Bind=/srv/a:/a"));
    auto parsed = parseNspawnSettings(text);
    REQUIRE(parsed.binds.size() == 2);
    CHECK(parsed.network.mode == "veth");

    NspawnSettingsEditor again(text);
    CHECK(again.removeBind("/b"));
    CHECK_FALSE(again.removeBind("/nope"));
    again.setNetwork({"bridge", "br0"});
    auto reparsed = parseNspawnSettings(again.text());
    CHECK(reparsed.binds == std::vector<BindMount>{{"/srv/a2", "/a", false}});
    CHECK(reparsed.network == NetworkSettings{"bridge", "br0"});
    NspawnSettingsEditor host(again.text());
    host.setNetwork({"host", ""});
    CHECK(parseNspawnSettings(host.text()).network.mode == "host");
    CHECK(bindSpec({"/with:colon", "/d", false}) == "/with\\:colon:/d");
}

TEST_CASE("the settings editor never writes a value with a line break or other control character")
{
    const std::string original = "[Files]\nBind=/srv/a:/a\n";
    for (const char* injected : {"br0\n[Files]\nBind=/:/host", "br0\r[Files]", "br0\t", "br0\x7f"}) {
        NspawnSettingsEditor editor(original);
        CHECK(test::errorCodeOf([&] { editor.setNetwork({"bridge", injected}); }) == ErrorCode::InvalidArgs);
        CHECK(test::errorCodeOf([&] {
                  editor.setBind({std::string("/srv/") + injected, "/x", false});
              }) == ErrorCode::InvalidArgs);
        CHECK(editor.text() == original);
    }
    // A colon in a path is escaped, and read back as it was.
    NspawnSettingsEditor editor(original);
    editor.setBind({"/srv/a:b", "/dst:x", true});
    CHECK(parseNspawnSettings(editor.text()).binds.back() == BindMount{"/srv/a:b", "/dst:x", true});
}

TEST_CASE("the settings editor states how machinectl is to start the container, once")
{
    // A file the old daemon wrote for a bind: machinectl's -U and --network-veth would win.
    const std::string old = "[Files]\nBind=/srv/a:/a\n";
    NspawnSettingsEditor editor(old);
    editor.addStartSettings();
    auto text = editor.text();
    CHECK(text == "[Files]\nBind=/srv/a:/a\n\n"
                  "[Exec]\nPrivateUsers=no\nNotifyReady=yes\nLinkJournal=auto\n\n"
                  "[Network]\nVirtualEthernet=no\n");
    CHECK(parseNspawnSettings(text).network.mode == "host");
    CHECK(parseNspawnSettings(text).binds == std::vector<BindMount>{{"/srv/a", "/a", false}});
    NspawnSettingsEditor again(text);
    again.addStartSettings();
    CHECK(again.text() == text);

    // What a person wrote stays, and a network key of any kind counts as stating the network.
    const std::string own = "[Exec]\nPrivateUsers=pick\n[Network]\nZone=web\n";
    NspawnSettingsEditor person(own);
    person.addStartSettings();
    CHECK_THAT(person.text(), ContainsSubstring("PrivateUsers=pick\n"));
    CHECK_THAT(person.text(), !ContainsSubstring("PrivateUsers=no"));
    CHECK_THAT(person.text(), !ContainsSubstring("VirtualEthernet"));
    // An empty assignment states nothing.
    NspawnSettingsEditor empty("[Exec]\nPrivateUsers=\n");
    empty.addStartSettings();
    CHECK_THAT(empty.text(), ContainsSubstring("PrivateUsers=\nPrivateUsers=no\n"));
}

TEST_CASE("host networking is written down, since machinectl would otherwise add a veth")
{
    NspawnSettingsEditor editor("[Network]\nBridge=br0\n");
    editor.setNetwork({"host", ""});
    CHECK(editor.text() == "[Network]\nVirtualEthernet=no\n");
    CHECK(parseNspawnSettings(editor.text()).network.mode == "host");
}
