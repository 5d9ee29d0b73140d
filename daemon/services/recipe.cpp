#include "recipe.h"

#include "errors.h"
#include "names.h"

#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <sstream>
#include <toml++/toml.h>

namespace bred {
namespace {

const std::map<std::string, RecipeStepKind> stepKinds{
    {"run", RecipeStepKind::Run},
    {"write-file", RecipeStepKind::WriteFile},
    {"ensure-block", RecipeStepKind::EnsureBlock},
    {"install-packages", RecipeStepKind::InstallPackages},
    {"remove-packages", RecipeStepKind::RemovePackages},
};

class RecipeReader {
public:
    explicit RecipeReader(std::string source) : source_(std::move(source)) { }

    [[noreturn]] void fail(const std::string& what) const
    {
        throw Error(ErrorCode::InvalidArgs, fmt::format("{}: {}", source_, what));
    }

    std::string string(const toml::table& table, std::string_view key, bool required, const std::string& where) const
    {
        auto node = table[key];
        if (!node) {
            if (required)
                fail(fmt::format("{} needs '{}'", where, key));
            return {};
        }
        auto value = node.value<std::string>();
        if (!value)
            fail(fmt::format("'{}' in {} must be a string", key, where));
        return *value;
    }

    std::vector<std::string> strings(const toml::table& table, std::string_view key, const std::string& where) const
    {
        std::vector<std::string> values;
        auto node = table[key];
        if (!node)
            return values;
        const toml::array* array = node.as_array();
        if (!array)
            fail(fmt::format("'{}' in {} must be a list of strings", key, where));
        for (const auto& item : *array) {
            auto value = item.value<std::string>();
            if (!value)
                fail(fmt::format("'{}' in {} must be a list of strings", key, where));
            values.push_back(*value);
        }
        return values;
    }

    RecipeValue value(const toml::node& node, const std::string& key) const
    {
        if (auto text = node.value<std::string>())
            return *text;
        if (const toml::array* array = node.as_array()) {
            std::vector<std::string> values;
            for (const auto& item : *array) {
                auto text = item.value<std::string>();
                if (!text)
                    fail(fmt::format("variable '{}' must be a string or a list of strings", key));
                values.push_back(*text);
            }
            return values;
        }
        fail(fmt::format("variable '{}' must be a string or a list of strings", key));
    }

private:
    std::string source_;
};

bool isRecipeId(const std::string& id)
{
    return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

std::string joined(const std::vector<std::string>& values)
{
    std::string text;
    for (const auto& value : values)
        text += (text.empty() ? "" : " ") + value;
    return text;
}

// Replaces each "{name}" in `text`; a list joins with spaces.
std::string expandString(const std::string& text, const RecipeVariables& variables)
{
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        auto open = text.find('{', i);
        auto close = open == std::string::npos ? std::string::npos : text.find('}', open);
        std::string name = close == std::string::npos ? std::string() : text.substr(open + 1, close - open - 1);
        if (close == std::string::npos || name.empty() || !isRecipeId(name)) {
            // Not a variable (for example "${HOME}" in a shell command): kept as it is.
            out += text.substr(i, open == std::string::npos ? std::string::npos : open + 1 - i);
            if (open == std::string::npos)
                break;
            i = open + 1;
            continue;
        }
        out += text.substr(i, open - i);
        auto variable = variables.find(name);
        if (variable == variables.end())
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("the recipe uses '{{{}}}', which it does not define", name));
        if (const auto* single = std::get_if<std::string>(&variable->second))
            out += *single;
        else
            out += joined(std::get<std::vector<std::string>>(variable->second));
        i = close + 1;
    }
    return out;
}

std::vector<std::string> expandList(const std::vector<std::string>& items, const RecipeVariables& variables)
{
    std::vector<std::string> out;
    for (const auto& item : items) {
        if (item.size() > 2 && item.front() == '{' && item.back() == '}') {
            auto variable = variables.find(item.substr(1, item.size() - 2));
            if (variable != variables.end()) {
                if (const auto* list = std::get_if<std::vector<std::string>>(&variable->second)) {
                    out.insert(out.end(), list->begin(), list->end());
                    continue;
                }
            }
        }
        out.push_back(expandString(item, variables));
    }
    return out;
}

bool isEmptyValue(const RecipeValue& value)
{
    if (const auto* single = std::get_if<std::string>(&value))
        return single->empty();
    return std::get<std::vector<std::string>>(value).empty();
}

} // namespace

Recipe parseRecipe(std::string_view text, const std::string& sourceName)
{
    RecipeReader reader(sourceName);
    toml::table root;
    try {
        root = toml::parse(text, sourceName);
    } catch (const toml::parse_error& error) {
        throw Error(ErrorCode::InvalidArgs, fmt::format("{}:{}:{}: {}", sourceName, error.source().begin.line,
                                                        error.source().begin.column, error.description()));
    }
    Recipe recipe;
    recipe.source = sourceName;
    recipe.id = reader.string(root, "id", true, "the recipe");
    if (!isRecipeId(recipe.id))
        reader.fail(fmt::format("'{}' is not a recipe id (lower-case letters, digits, '-' and '_')", recipe.id));
    recipe.description = reader.string(root, "description", true, "the recipe");
    recipe.packageManager = reader.string(root, "package_manager", false, "the recipe");
    if (!recipe.packageManager.empty() && recipe.packageManager != "pacman")
        reader.fail(fmt::format("package manager '{}' is not supported (pacman is)", recipe.packageManager));
    if (const toml::table* applies = root["applies"].as_table()) {
        recipe.osIds = reader.strings(*applies, "os", "[applies]");
        recipe.architectures = reader.strings(*applies, "architectures", "[applies]");
    }
    if (recipe.osIds.empty())
        reader.fail("[applies] needs 'os', the os-release IDs the recipe converts");
    if (const toml::table* variables = root["variables"].as_table())
        for (const auto& [key, node] : *variables)
            recipe.variables[std::string(key.str())] = reader.value(node, std::string(key.str()));
    const toml::array* steps = root["step"].as_array();
    if (!steps || steps->empty())
        reader.fail("the recipe has no [[step]]");
    for (const auto& node : *steps) {
        const toml::table* table = node.as_table();
        std::string where = fmt::format("step {}", recipe.steps.size() + 1);
        if (!table)
            reader.fail(where + " must be a table");
        RecipeStep step;
        std::string kind = reader.string(*table, "kind", true, where);
        auto known = stepKinds.find(kind);
        if (known == stepKinds.end())
            reader.fail(fmt::format("{} has unknown kind '{}' (run, write-file, ensure-block, install-packages, "
                                    "remove-packages)",
                                    where, kind));
        step.kind = known->second;
        step.description = reader.string(*table, "description", false, where);
        step.when = reader.string(*table, "when", false, where);
        switch (step.kind) {
        case RecipeStepKind::Run:
            step.command = reader.strings(*table, "command", where);
            if (step.command.empty())
                reader.fail(where + " (run) needs 'command'");
            break;
        case RecipeStepKind::WriteFile:
        case RecipeStepKind::EnsureBlock:
            step.path = reader.string(*table, "path", true, where);
            if (!isAbsoluteNormalPath(step.path))
                reader.fail(where + ": 'path' must be an absolute path inside the container");
            step.content =
                reader.string(*table, step.kind == RecipeStepKind::WriteFile ? "content" : "block", false, where);
            step.contentFrom = reader.string(*table, "content_from", false, where);
            if (step.kind == RecipeStepKind::EnsureBlock && step.content.empty())
                reader.fail(where + " (ensure-block) needs 'block'");
            break;
        case RecipeStepKind::InstallPackages:
        case RecipeStepKind::RemovePackages:
            step.packages = reader.strings(*table, "packages", where);
            if (recipe.packageManager.empty())
                reader.fail(where + " handles packages, so the recipe needs 'package_manager'");
            break;
        }
        if (!step.when.empty() && !recipe.variables.count(step.when))
            reader.fail(fmt::format("{}: 'when' names '{}', which is not a variable", where, step.when));
        recipe.steps.push_back(std::move(step));
    }
    // Every variable a step uses must be defined: fail now, not mid-conversion.
    expandRecipeSteps(recipe, {});
    return recipe;
}

std::vector<Recipe> loadRecipes(const std::vector<std::filesystem::path>& directories,
                                std::vector<std::string>* problems)
{
    std::map<std::string, Recipe> byId;
    for (const auto& directory : directories) {
        std::error_code error;
        std::vector<std::filesystem::path> files;
        for (const auto& entry : std::filesystem::directory_iterator(directory, error))
            if (entry.path().extension() == ".toml")
                files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            std::ifstream stream(file);
            std::ostringstream text;
            text << stream.rdbuf();
            try {
                Recipe recipe = parseRecipe(text.str(), file.string());
                byId[recipe.id] = std::move(recipe);
            } catch (const Error& failure) {
                if (problems)
                    problems->push_back(failure.what());
            }
        }
    }
    std::vector<Recipe> recipes;
    for (auto& [id, recipe] : byId)
        recipes.push_back(std::move(recipe));
    return recipes;
}

std::vector<RecipeStep> expandRecipeSteps(const Recipe& recipe, const RecipeVariables& overrides)
{
    RecipeVariables variables = recipe.variables;
    for (const auto& [name, value] : overrides)
        variables[name] = value;
    std::vector<RecipeStep> steps;
    for (const auto& original : recipe.steps) {
        if (!original.when.empty() && isEmptyValue(variables.at(original.when)))
            continue;
        RecipeStep step = original;
        step.description = expandString(step.description, variables);
        step.command = expandList(step.command, variables);
        step.path = expandString(step.path, variables);
        step.content = expandString(step.content, variables);
        step.contentFrom = expandString(step.contentFrom, variables);
        step.packages = expandList(step.packages, variables);
        steps.push_back(std::move(step));
    }
    return steps;
}

std::string recipeApplicabilityProblem(const Recipe& recipe, const OsRelease& osRelease,
                                       const std::string& architecture)
{
    std::vector<std::string> treeIds;
    if (auto id = osRelease.find("ID"); id != osRelease.end())
        treeIds.push_back(id->second);
    if (auto like = osRelease.find("ID_LIKE"); like != osRelease.end()) {
        std::istringstream words(like->second);
        for (std::string word; words >> word;)
            treeIds.push_back(word);
    }
    bool applies = std::any_of(treeIds.begin(), treeIds.end(), [&](const std::string& id) {
        return std::find(recipe.osIds.begin(), recipe.osIds.end(), id) != recipe.osIds.end();
    });
    if (!applies) {
        auto name = osRelease.count("PRETTY_NAME") ? osRelease.at("PRETTY_NAME")
                                                   : (treeIds.empty() ? "an unknown OS" : treeIds.front());
        return fmt::format("Recipe '{}' converts {} trees; this one is {}.", recipe.id, joined(recipe.osIds), name);
    }
    if (!recipe.architectures.empty() &&
        std::find(recipe.architectures.begin(), recipe.architectures.end(), architecture) == recipe.architectures.end())
        return fmt::format("Recipe '{}' is for {}; this tree is {}.", recipe.id, joined(recipe.architectures),
                           architecture.empty() ? "of an unknown architecture" : architecture);
    return {};
}

std::vector<std::string> installCommand(const std::string&, const std::vector<std::string>& packages)
{
    // pacman: refresh and upgrade with the install, as Arch requires (no partial upgrades);
    // --needed leaves what is installed alone, so a second run changes nothing.
    std::vector<std::string> command{"pacman", "-Syu", "--noconfirm", "--needed"};
    command.insert(command.end(), packages.begin(), packages.end());
    return command;
}

std::vector<std::string> isInstalledCommand(const std::string&, const std::string& package)
{
    return {"pacman", "-Q", package};
}

std::vector<std::string> removeCommand(const std::string&, const std::vector<std::string>& packages)
{
    std::vector<std::string> command{"pacman", "-R", "--noconfirm"};
    command.insert(command.end(), packages.begin(), packages.end());
    return command;
}

std::string describeRecipeStep(const RecipeStep& step)
{
    if (!step.description.empty())
        return step.description;
    switch (step.kind) {
    case RecipeStepKind::Run:
        return joined(step.command);
    case RecipeStepKind::WriteFile:
        return "write " + step.path;
    case RecipeStepKind::EnsureBlock:
        return "edit " + step.path;
    case RecipeStepKind::InstallPackages:
        return "install " + joined(step.packages);
    case RecipeStepKind::RemovePackages:
        return "remove " + joined(step.packages);
    }
    return {};
}

std::string ensureBlock(const std::string& text, const std::string& block)
{
    std::string wanted = block;
    while (!wanted.empty() && wanted.back() == '\n')
        wanted.pop_back();
    if (text.find(wanted) != std::string::npos)
        return text;
    std::string out = text;
    if (!out.empty() && out.back() != '\n')
        out += '\n';
    if (!out.empty())
        out += '\n';
    return out + wanted + "\n";
}

} // namespace bred
