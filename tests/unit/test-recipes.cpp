#include "config.h"
#include "error-code.h"
#include "errors.h"
#include "job.h"
#include "recipe-runner.h"
#include "recipe.h"
#include "temp-dir.h"

#include "catch.h"
#include <fstream>
#include <sstream>

using namespace bred;
using bred::test::errorCodeOf;
using bred::test::TempDir;
using bred::test::writeFile;

namespace {

std::string shippedRecipe()
{
    std::ifstream file(std::string(BRED_SOURCE_DIR) + "/daemon/data/recipes/bredos.toml");
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

const RecipeStep& stepAbout(const std::vector<RecipeStep>& steps, const std::string& description)
{
    for (const auto& step : steps)
        if (step.description == description)
            return step;
    FAIL("no step '" << description << "'");
    throw std::logic_error("unreachable");
}

} // namespace

TEST_CASE("the shipped bredos recipe does what the guide does, in its order")
{
    Recipe recipe = parseRecipe(shippedRecipe(), "bredos.toml");
    CHECK(recipe.id == "bredos");
    CHECK(recipe.packageManager == "pacman");
    auto steps = expandRecipeSteps(recipe, {});
    std::vector<std::string> commands;
    for (const auto& step : steps)
        if (step.kind == RecipeStepKind::Run)
            commands.push_back(step.command.front() + " " + step.command.at(1));
    CHECK(commands == std::vector<std::string>{"pacman-key --init", "pacman-key --populate", "pacman -Syu",
                                               "pacman-key --keyserver", "pacman-key --lsign-key"});
    // A copy: GCC 14 takes a reference through the description temporary for a dangling one.
    RecipeStep lsign = stepAbout(steps, "trust the BredOS keys");
    CHECK(lsign.command == std::vector<std::string>{"pacman-key", "--lsign-key", "77193F152BDBE6A6", "BF0740F967BA439D",
                                                    "DAEAD1E6D799C638", "1BEF1BCEBA58EA33"});
    CHECK(stepAbout(steps, "remove the Arch Linux ARM kernel and firmware").packages ==
          std::vector<std::string>{"linux-aarch64", "linux-firmware"});
    CHECK(stepAbout(steps, "write the BredOS mirrorlist").content ==
          "# --> BredOS Mirrorlist <-- #\n# BredOS Main mirror\nServer = https://repo.bredos.org/repo/$repo/$arch\n");
    CHECK(stepAbout(steps, "add the BredOS repositories to pacman.conf").content ==
          "[BredOS-any]\nInclude = /etc/pacman.d/bredos-mirrorlist\n\n[BredOS]\nInclude = "
          "/etc/pacman.d/bredos-mirrorlist\n");
    CHECK(stepAbout(steps, "install the BredOS base packages").packages ==
          std::vector<std::string>{"bred-os-release", "BredOS-any/lsb-release", "bredos-logo"});
    // No key file by default: its steps are left out.
    for (const auto& step : steps)
        CHECK(step.when != "key_file");
}

TEST_CASE("variables from the config and the caller replace the defaults")
{
    Recipe recipe = parseRecipe(shippedRecipe(), "bredos.toml");
    RecipeVariables overrides{{"mirror", std::string("http://127.0.0.1:8080/repo/$repo/$arch")},
                              {"keyserver", std::string()},
                              {"key_file", std::string("/srv/keys.asc")},
                              {"keys", std::vector<std::string>{"ABCDEF"}},
                              {"extras", std::vector<std::string>{"bredos-config", "bredos-news"}}};
    auto steps = expandRecipeSteps(recipe, overrides);
    auto mirrorlist = stepAbout(steps, "write the BredOS mirrorlist").content;
    CHECK(mirrorlist.find("Server = http://127.0.0.1:8080/repo/$repo/$arch") != std::string::npos);
    CHECK(stepAbout(steps, "copy the BredOS keys into the container").contentFrom == "/srv/keys.asc");
    CHECK(stepAbout(steps, "trust the BredOS keys").command ==
          std::vector<std::string>{"pacman-key", "--lsign-key", "ABCDEF"});
    CHECK(stepAbout(steps, "install the BredOS base packages").packages.size() == 5);
    for (const auto& step : steps)
        CHECK(step.description != "receive the BredOS keys");
}

TEST_CASE("the daemon's config carries recipe variables")
{
    Config config = parseConfig(R"([recipes.bredos]
mirror = "http://mirror.lan/$repo/$arch"
keys = ["AA", "BB"]
)",
                                "test.toml");
    CHECK(std::get<std::string>(config.recipeVariables["bredos"]["mirror"]) == "http://mirror.lan/$repo/$arch");
    CHECK(std::get<std::vector<std::string>>(config.recipeVariables["bredos"]["keys"]).size() == 2);
    CHECK(errorCodeOf([] { parseConfig("[recipes.bredos]\nmirror = 3\n", "bad.toml"); }) == ErrorCode::InvalidArgs);
}

TEST_CASE("malformed recipes are refused with the reason")
{
    const char* header = "id = \"x\"\ndescription = \"d\"\n[applies]\nos = [\"arch\"]\n";
    CHECK(errorCodeOf([&] { parseRecipe(std::string(header), "r.toml"); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] { parseRecipe(std::string(header) + "[[step]]\nkind = \"dance\"\n", "r.toml"); }) ==
          ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] {
              parseRecipe(std::string(header) + "[[step]]\nkind = \"run\"\ncommand = [\"{nosuch}\"]\n", "r.toml");
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] {
              parseRecipe(std::string(header) + "[[step]]\nkind = \"write-file\"\npath = \"etc/x\"\n", "r.toml");
          }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] {
              parseRecipe(std::string(header) + "[[step]]\nkind = \"install-packages\"\npackages = [\"a\"]\n",
                          "r.toml");
          }) == ErrorCode::InvalidArgs);
    // Shell variables are not recipe variables.
    auto recipe = parseRecipe(std::string(header) + "[[step]]\nkind = \"run\"\ncommand = [\"sh\", \"-c\", "
                                                    "\"echo ${HOME} {x\"]\n",
                              "r.toml");
    CHECK(expandRecipeSteps(recipe, {}).front().command.back() == "echo ${HOME} {x");
}

TEST_CASE("local recipes replace shipped ones of the same id")
{
    TempDir dir;
    writeFile(dir.path() / "usr/bredos.toml", shippedRecipe());
    std::string local = shippedRecipe();
    local.replace(local.find("description = \"Arch"), 19, "description = \"Local");
    writeFile(dir.path() / "etc/bredos.toml", local);
    writeFile(dir.path() / "etc/broken.toml", "id = 3");
    std::vector<std::string> problems;
    auto recipes = loadRecipes({dir.path() / "usr", dir.path() / "etc"}, &problems);
    REQUIRE(recipes.size() == 1);
    CHECK(recipes[0].description.rfind("Local", 0) == 0);
    CHECK(problems.size() == 1);
}

TEST_CASE("applicability: os-release ID or ID_LIKE, and the architecture")
{
    Recipe recipe = parseRecipe(shippedRecipe(), "bredos.toml");
    CHECK(recipeApplicabilityProblem(recipe, {{"ID", "archarm"}}, "arm64").empty());
    CHECK(recipeApplicabilityProblem(recipe, {{"ID", "manjaro"}, {"ID_LIKE", "arch"}}, "x86-64").empty());
    CHECK(recipeApplicabilityProblem(recipe, {{"ID", "debian"}, {"PRETTY_NAME", "Debian 12"}}, "arm64")
              .find("Debian 12") != std::string::npos);
    CHECK(!recipeApplicabilityProblem(recipe, {{"ID", "archarm"}}, "riscv64").empty());
}

TEST_CASE("a block is added once")
{
    std::string block = "[BredOS]\nInclude = x\n";
    std::string once = ensureBlock("[options]\nA = 1", block);
    CHECK(once == "[options]\nA = 1\n\n[BredOS]\nInclude = x\n");
    CHECK(ensureBlock(once, block) == once);
    CHECK(ensureBlock("", block) == block);
}

TEST_CASE("file steps edit inside the tree only, once, and name the step that fails")
{
    TempDir dir;
    auto tree = dir.path() / "tree";
    std::filesystem::create_directories(tree / "etc");
    std::filesystem::create_directories(dir.path() / "host");
    // The container's /etc/pacman.d points at a host directory: it must resolve inside the tree.
    std::filesystem::create_symlink(dir.path() / "host", tree / "etc/pacman.d");
    auto insideTarget = tree / dir.path().relative_path() / "host"; // where the symlink leads inside the tree
    std::filesystem::create_directories(insideTarget);
    writeFile(tree / "etc/pacman.conf", "[options]\n");
    Recipe recipe = parseRecipe(R"(id = "files"
description = "d"
[applies]
os = ["arch"]
[[step]]
kind = "write-file"
description = "mirrorlist"
path = "/etc/pacman.d/mirrorlist"
content = "Server = x"
[[step]]
kind = "ensure-block"
description = "repos"
path = "/etc/pacman.conf"
block = "[BredOS]"
[[step]]
kind = "write-file"
description = "nowhere"
path = "/no/such/dir/file"
content = "x"
)",
                                "files.toml");
    RunRequest target;
    target.machine = "files";
    target.directory = tree;
    auto steps = expandRecipeSteps(recipe, {});
    auto run = [&](std::vector<RecipeStep> chosen) {
        Job job(1, "convert", "files", "convert", 0);
        job.start([&](JobContext& context) { runRecipe(recipe, chosen, target, context); });
        job.join();
        return job.failure();
    };
    for (int twice = 0; twice < 2; ++twice) {
        auto failure = run({steps[0], steps[1]});
        CHECK_FALSE(failure);
        if (failure)
            FAIL_CHECK(failure->what());
    }
    CHECK(std::filesystem::is_empty(dir.path() / "host"));
    std::ifstream mirrorlist(insideTarget / "mirrorlist");
    std::string line;
    std::getline(mirrorlist, line);
    CHECK(line == "Server = x");
    std::ifstream conf(tree / "etc/pacman.conf");
    std::ostringstream text;
    text << conf.rdbuf();
    CHECK(text.str() == "[options]\n\n[BredOS]\n");
    auto failure = run({steps[2]});
    REQUIRE(failure);
    CHECK(failure->code() == ErrorCode::RecipeFailed);
    CHECK(std::string(failure->what()).find("step 1/1 (nowhere)") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(tree / "no"));
}
