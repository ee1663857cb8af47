#pragma once
// `metagrad meta-eval --suite heldout`: every given learned optimizer,
// untuned, against adam, adamw and nag whose learning rate is tuned per
// task on that task's validation problems (a grid of two points per decade,
// widened until the best value is inside it), on every task of a suite.
// Writes DIR/report.md (per task: training loss at the horizon and test
// loss, mean ± std over seeds, and the steps tuned Adam needs to reach each
// learned optimizer's final loss; overall: tasks won against tuned Adam and
// the geometric mean speed-up) with loss-curve plots. Runs are stored as
// they finish, so a stopped evaluation started again continues.
#include <atomic>
#include <string>
#include <vector>

#include "metagrad/optim/experiments/reproduce.hpp"

namespace mg::optim::experiments {

struct SuiteEvalOptions {
  std::string suite = "heldout";
  Budget budget = Budget::Quick;     // quick: a tenth of each horizon; smoke: 3 steps (tests)
  std::vector<std::string> learned;  // weight files (general, mlp_lopt, a one-net lstm)
  std::vector<std::string> tasks;    // a subset of the suite's tasks; empty: all
  int seeds = 3;                     // test problems per optimizer and task
  std::string out, fashion_dir, cifar_dir, text_dir = "/usr/share/common-licenses";
  bool progress = true;
  std::string command;  // quoted in the report
};

// Returns the summary line (tasks won against tuned Adam, per learned optimizer).
std::string evaluate_suite(const SuiteEvalOptions& options, const std::atomic<bool>& stop);

}  // namespace mg::optim::experiments
