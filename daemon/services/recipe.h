// Conversion recipes: data, not code. A recipe (TOML) names what it applies to,
// its variables with defaults (the daemon's config may override them), and
// steps of a few kinds, each idempotent, that the engine runs in order inside
// a container. See data/recipes/bredos.toml.
#pragma once

#include "os-tree.h"

#include <filesystem>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace bred {

// A variable is a string or a list of strings.
using RecipeValue = std::variant<std::string, std::vector<std::string>>;
using RecipeVariables = std::map<std::string, RecipeValue>;

enum class RecipeStepKind {
    Run,             // run `command` inside the container
    WriteFile,       // make `path` hold exactly `content` (or the host file `content_from`)
    EnsureBlock,     // make `path` contain `block` once, appending it when missing
    InstallPackages, // install `packages` with the recipe's package manager (already installed: nothing)
    RemovePackages,  // remove those of `packages` that are installed
};

struct RecipeStep {
    RecipeStepKind kind = RecipeStepKind::Run;
    std::string description;
    std::vector<std::string> command;
    std::string path, content, contentFrom;
    std::vector<std::string> packages;
    // The name of a variable that must be non-empty for the step to run ("" always runs).
    std::string when;
};

struct Recipe {
    std::string id, description;
    std::vector<std::string> osIds;         // os-release ID or ID_LIKE values it applies to
    std::vector<std::string> architectures; // empty: any
    std::string packageManager;             // "pacman"
    RecipeVariables variables;
    std::vector<RecipeStep> steps;
    std::filesystem::path source;
};

// Parses one recipe; throws Error(InvalidArgs) naming the file and what is wrong.
Recipe parseRecipe(std::string_view toml, const std::string& sourceName);

// The recipes in `directories`, later directories replacing earlier ones'
// recipes of the same id (so /etc overrides /usr/share). Malformed files are
// skipped and reported through `problems`.
std::vector<Recipe> loadRecipes(const std::vector<std::filesystem::path>& directories,
                                std::vector<std::string>* problems = nullptr);

// The steps with every "{name}" replaced by its variable: the recipe's
// defaults, then `overrides`. A list variable standing alone as a list item
// becomes its items; inside a string it is joined with spaces. Steps whose
// `when` variable is empty are dropped. Throws Error(InvalidArgs) for an
// unknown variable.
std::vector<RecipeStep> expandRecipeSteps(const Recipe& recipe, const RecipeVariables& overrides);

// Why the recipe cannot convert a tree with this os-release and architecture,
// or empty when it can.
std::string recipeApplicabilityProblem(const Recipe& recipe, const OsRelease& osRelease,
                                       const std::string& architecture);

// The package manager's commands, for InstallPackages and RemovePackages steps.
std::vector<std::string> installCommand(const std::string& packageManager, const std::vector<std::string>& packages);
std::vector<std::string> isInstalledCommand(const std::string& packageManager, const std::string& package);
std::vector<std::string> removeCommand(const std::string& packageManager, const std::vector<std::string>& packages);

// What a person sees for a step: its description, or one made from what it does.
std::string describeRecipeStep(const RecipeStep& step);

// Adds `block` to `text` unless it is there already (idempotent); returns the new text.
std::string ensureBlock(const std::string& text, const std::string& block);

} // namespace bred
