// The `metagrad` program: one binary, one thin file per subcommand.
#include <algorithm>
#include <cstdio>
#include <exception>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "interrupt.hpp"
#include "metagrad/metagrad.hpp"

int main(int argc, char** argv) {
  mg::apps::watch_interrupts();  // before MPI or OpenMP start threads
  CLI::App app{"metagrad: a C++ deep-learning framework for optimization research"};
  app.set_version_flag("--version", std::string("metagrad ") + mg::version());
  app.require_subcommand(0, 1);
  app.fallthrough();  // --log-level may follow the subcommand
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "Logging: trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  bool flush_denormal = false;
  app.add_flag("--flush-denormal", flush_denormal,
               "Flush denormal floats to zero (FTZ/DAZ): several times faster where values decay towards zero, "
               "as on a learned optimizer's do-nothing plateau; results differ only where a value is denormal");
  app.parse_complete_callback([&] {
    if (flush_denormal && !mg::set_flush_denormal(true))
      throw mg::Error("--flush-denormal: this CPU has no flush-to-zero mode");
    spdlog::set_level(spdlog::level::from_str(log_level));
    if (!mg::distributed::is_main()) spdlog::set_level(std::max(spdlog::level::warn, spdlog::get_level()));
  });
  mg::apps::add_info_command(app);
  mg::apps::add_bench_command(app);
  mg::apps::add_train_command(app);
  mg::apps::add_compare_command(app);
  mg::apps::add_optimizers_command(app);
  mg::apps::add_meta_train_command(app);
  mg::apps::add_meta_eval_command(app);
  mg::apps::add_reproduce_command(app);
  mg::apps::add_data_command(app);
  try {
    mg::distributed::init(argc, argv);  // under mpirun: one rank of the job
    app.parse(argc, argv);
    if (app.get_subcommands().empty()) std::fputs(app.help().c_str(), stdout);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const mg::Error& e) {
    // Other ranks may wait in a collective for this one: end them all.
    if (mg::distributed::world_size() > 1) mg::distributed::abort(std::string("error: ") + e.what());
    std::fprintf(stderr, "metagrad: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
