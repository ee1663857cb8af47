// `metagrad reproduce`: one command per paper claim (library:
// optim/experiments/reproduce.hpp). Ctrl-C stops after the current run;
// the same command started again continues from the runs already done.
// Under mpirun independent runs are spread over the ranks (the --out
// folder must be one every rank sees).
#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "interrupt.hpp"
#include "metagrad/core/denormals.hpp"
#include "metagrad/core/distributed.hpp"
#include "metagrad/core/error.hpp"
#include "metagrad/core/threading.hpp"
#include "metagrad/optim/experiments/reproduce.hpp"

namespace mg::apps {
namespace {

namespace experiments = optim::experiments;

struct Options {
  experiments::ReproduceOptions reproduce;
  std::string claim, protocol = "paper", budget = "quick";
  bool list = false, no_progress = false;
  int threads = 0;
};

void list_claims() {
  for (const auto& c : experiments::claims())
    std::printf("%-12s %s: %s\n", c.name.c_str(), c.paper.c_str(), c.statement.c_str());
}

void run(Options o) {
  if (o.list) return list_claims();
  if (o.claim.empty()) throw Error("reproduce: name a claim (see `metagrad reproduce --list`)");
  if (o.threads > 0) set_num_threads(o.threads);
  o.reproduce.progress = !o.no_progress;
  o.reproduce.protocol = experiments::parse_protocol(o.protocol);
  o.reproduce.budget = experiments::parse_budget(o.budget);
  o.reproduce.command =
      fmt::format("metagrad reproduce {} --budget {}{} --seeds {}{}{} --out {}{}", o.claim, o.budget,
                  o.reproduce.protocol == experiments::Protocol::Code ? " --protocol code" : "", o.reproduce.seeds,
                  o.reproduce.cifar_dir.empty() ? "" : " --data-dir " + o.reproduce.cifar_dir,
                  o.threads > 0 ? fmt::format(" --threads {}", o.threads) : "", o.reproduce.out,
                  flush_denormal() ? " --flush-denormal" : "");
  try {
    std::string verdict;
    {
      InterruptScope interrupt;
      verdict = experiments::reproduce(o.claim, o.reproduce, interrupt.requested());
    }
    if (distributed::is_main()) std::printf("%s\nreport: %s/report.md\n", verdict.c_str(), o.reproduce.out.c_str());
  } catch (const Interrupted&) {
    std::fprintf(stderr, "interrupted: the finished runs are kept in %s/runs; run the same command to continue\n",
                 o.reproduce.out.c_str());
    throw CLI::RuntimeError(130);
  }
}

}  // namespace

void add_reproduce_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("reproduce", "Check a paper's claim with the project's protocol and write a report");
  cmd->add_option("claim", o->claim, "The claim's name (--list shows them)");
  cmd->add_flag("--list", o->list, "List every claim");
  cmd->add_option("--budget", o->budget, "quick (minutes) or full (the specification's protocol)");
  cmd->add_option("--protocol", o->protocol,
                  "The l2l claims: paper (the paper's text, default) or code (the authors' released code's p, scale, "
                  "initialisation, epochs, validation and meta lr; optimizers.md 5.7)");
  cmd->add_option("--seeds", o->reproduce.seeds, "Test problems (seeds) per optimizer")->check(CLI::Range(1, 1000));
  cmd->add_option("--out", o->reproduce.out, "Folder for report.md, its plots and the finished runs");
  cmd->add_option("--data-dir", o->reproduce.cifar_dir, "Folder of CIFAR-10's binary files (claims on the cnn task)");
  cmd->add_option("--fashion-mnist-dir", o->reproduce.fashion_dir,
                  "Folder of Fashion-MNIST's IDX files (default: Debian's dataset-fashion-mnist)");
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)")->check(CLI::Range(1, 1024));
  cmd->add_flag("--no-progress", o->no_progress, "No progress lines");
  cmd->callback([o] { run(*o); });
}

}  // namespace mg::apps
