// The engine that converts a container with a recipe: each step in order,
// commands inside the container through the Run machinery (their output into
// the job's log), file edits inside the container's tree only; stops at the
// first failure with RecipeFailed naming the step.
#pragma once

#include "container-run.h"
#include "recipe.h"

namespace bred {

class JobContext;

// `target` says where to run (machine, directory, running); its argv and
// descriptors are not used. Throws Error(RecipeFailed), JobCanceled.
void runRecipe(const Recipe& recipe, const std::vector<RecipeStep>& steps, const RunRequest& target, JobContext& job);

} // namespace bred
