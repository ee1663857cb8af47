// `metagrad optimizers`: every registry name with its one-line description
// and its hyperparameters with their defaults (what a spec string may say).
#include <cstdio>

#include "commands.hpp"
#include "metagrad/metagrad.hpp"

namespace mg::apps {

void add_optimizers_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("optimizers", "List the optimizers, their hyperparameters and defaults");
  cmd->callback([] {
    for (const auto& name : optim::available()) {
      const auto& entry = optim::info(name);
      std::printf("%s\n  %s\n  %s(%s)\n\n", name.c_str(), entry.summary.c_str(), name.c_str(),
                  optim::describe_keys(entry.schema).c_str());
    }
    std::printf("Schedules: ");
    for (const auto& name : optim::available_schedules()) std::printf("%s ", name.c_str());
    std::printf("\n");
  });
}

}  // namespace mg::apps
