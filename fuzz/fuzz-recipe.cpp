// A conversion recipe (TOML), as an administrator may drop into /etc: parsed,
// expanded and described as Convert does.
#include "errors.h"
#include "recipe.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace bred;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        Recipe recipe = parseRecipe(text, "fuzz.toml");
        recipeApplicabilityProblem(recipe, {{"ID", "arch"}, {"ID_LIKE", "debian"}}, "x86-64");
        for (const auto& step : expandRecipeSteps(recipe, {{"packages", std::vector<std::string>{"vim"}}})) {
            describeRecipeStep(step);
            if (!step.packages.empty() && !recipe.packageManager.empty()) {
                installCommand(recipe.packageManager, step.packages);
                removeCommand(recipe.packageManager, step.packages);
            }
            // Idempotent, as a recipe step must be.
            std::string once = ensureBlock(step.path, step.content);
            if (ensureBlock(once, step.content) != once)
                std::abort();
        }
    } catch (const Error&) {
    }
    return 0;
}
