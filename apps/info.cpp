// `metagrad info`: what this build runs on (kernels, threads, libraries).
#include <cstdio>

#include "commands.hpp"
#include "metagrad/metagrad.hpp"

namespace mg::apps {

void add_info_command(CLI::App& app) {
  auto* info = app.add_subcommand("info", "Print the build, thread and kernel configuration");
  auto threads = std::make_shared<int>(0);
  info->add_option("--threads", *threads, "Threads for our loops, OpenBLAS and oneDNN (default: all cores)")
      ->check(CLI::Range(1, 1024));
  info->callback([threads] {
    if (*threads > 0) set_num_threads(*threads);
    std::fputs(build_info().c_str(), stdout);
  });
}

}  // namespace mg::apps
