#include "recipe-runner.h"

#include "errors.h"
#include "in-root.h"
#include "job.h"

#include <deque>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <syslog.h>

namespace bred {
namespace {

constexpr std::size_t maxEditedFileBytes = 16 << 20;
// The output lines a failure report carries.
constexpr std::size_t failureLines = 15;

class StepRunner {
public:
    StepRunner(const Recipe& recipe, const RunRequest& target, JobContext& job) :
        recipe_(recipe),
        target_(target),
        job_(job)
    {
    }

    void run(const RecipeStep& step, const std::string& title)
    {
        title_ = title;
        switch (step.kind) {
        case RecipeStepKind::Run:
            check(command(step.command));
            break;
        case RecipeStepKind::WriteFile:
            writeFile(step.path, step.contentFrom.empty() ? step.content : hostFile(step.contentFrom));
            break;
        case RecipeStepKind::EnsureBlock: {
            std::string current = readTreeFile(step.path).value_or("");
            writeFile(step.path, ensureBlock(current, step.content));
            break;
        }
        case RecipeStepKind::InstallPackages:
            if (!step.packages.empty())
                check(command(installCommand(recipe_.packageManager, step.packages)));
            break;
        case RecipeStepKind::RemovePackages: {
            std::vector<std::string> installed;
            for (const auto& package : step.packages)
                if (command(isInstalledCommand(recipe_.packageManager, package)) == 0)
                    installed.push_back(package);
            if (installed.empty())
                job_.log(LOG_INFO, "None of them is installed.");
            else
                check(command(removeCommand(recipe_.packageManager, installed)));
            break;
        }
        }
    }

private:
    int command(const std::vector<std::string>& argv)
    {
        RunRequest request;
        request.machine = target_.machine;
        request.directory = target_.directory;
        request.running = target_.running;
        request.limits = target_.limits;
        request.command.argv = argv;
        request.command.environment = {"LANG=C.UTF-8"};
        recent_.clear();
        return runInContainer(request, job_, [this](const std::string& line) {
            job_.log(LOG_INFO, line);
            recent_.push_back(line);
            if (recent_.size() > failureLines)
                recent_.pop_front();
        });
    }

    void check(int status)
    {
        if (status == 0)
            return;
        std::string output;
        for (const auto& line : recent_)
            output += "\n" + line;
        throw Error(ErrorCode::RecipeFailed,
                    fmt::format("Recipe '{}' failed at {} with exit status {}.{}", recipe_.id, title_, status,
                                output.empty() ? "" : " Its last output:" + output));
    }

    UniqueFd tree() const
    {
        UniqueFd fd(open(target_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd)
            throw Error(ErrorCode::Failed, fmt::format("cannot open {}", target_.directory.string()));
        return fd;
    }

    std::optional<std::string> readTreeFile(const std::string& path) const
    {
        return readFileInRoot(tree().get(), path, maxEditedFileBytes);
    }

    void writeFile(const std::string& path, const std::string& content)
    {
        if (readTreeFile(path) == content) {
            job_.log(LOG_INFO, fmt::format("{} is as it should be already.", path));
            return;
        }
        try {
            replaceFileInRoot(tree().get(), path, content);
        } catch (const Error& failure) {
            throw Error(ErrorCode::RecipeFailed,
                        fmt::format("Recipe '{}' failed at {}: {}", recipe_.id, title_, failure.what()));
        }
        job_.log(LOG_INFO, fmt::format("Wrote {}.", path));
    }

    std::string hostFile(const std::string& path) const
    {
        std::ifstream file(path);
        if (!file)
            throw Error(ErrorCode::RecipeFailed,
                        fmt::format("Recipe '{}' failed at {}: cannot read {} on the host.", recipe_.id, title_, path));
        std::ostringstream text;
        text << file.rdbuf();
        return text.str();
    }

    const Recipe& recipe_;
    const RunRequest& target_;
    JobContext& job_;
    std::string title_;
    std::deque<std::string> recent_;
};

} // namespace

void runRecipe(const Recipe& recipe, const std::vector<RecipeStep>& steps, const RunRequest& target, JobContext& job)
{
    StepRunner runner(recipe, target, job);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        job.throwIfCanceled();
        std::string what = describeRecipeStep(steps[i]);
        std::string title = fmt::format("step {}/{} ({})", i + 1, steps.size(), what);
        job.setStage(fmt::format("step {}/{}: {}", i + 1, steps.size(), what));
        job.setProgress(double(i) / double(steps.size()));
        job.log(LOG_INFO, fmt::format("Step {}/{}: {}", i + 1, steps.size(), what));
        runner.run(steps[i], title);
    }
    job.setProgress(1.0);
    job.log(LOG_INFO, fmt::format("'{}' is converted with recipe '{}'.", target.machine, recipe.id));
}

} // namespace bred
