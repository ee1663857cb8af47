#pragma once
// One command per paper claim (optimizers.md sections 4-8): each claim runs
// the project's protocol for it, over seeds, and writes DIR/report.md (the
// claim, the protocol actually run, mean ± std tables, SVG plots, the
// command and a verdict line). Runs are stored as they finish, so a stopped
// reproduction started again with the same flags continues where it stopped.
#include <atomic>
#include <string>
#include <vector>

namespace mg::optim::experiments {

// Whose settings paper 2's claims follow (optimizers.md 5.7): the paper's
// text, or the authors' released code (p, scale, initialisation, epochs,
// validation and the meta-optimizer's lr from google-deepmind/learning-to-learn).
enum class Protocol { Paper, Code };
Protocol parse_protocol(const std::string& name);  // paper | code
const char* to_string(Protocol protocol);

// How much compute a reproduction spends: smoke (seconds; the tests'),
// quick (minutes on 2 cores) or full (the specification's protocol).
enum class Budget { Smoke, Quick, Full };
Budget parse_budget(const std::string& name);  // smoke | quick | full
const char* to_string(Budget budget);

struct ReproduceOptions {
  Budget budget = Budget::Quick;
  Protocol protocol = Protocol::Paper;  // the l2l claims only
  int seeds = 3;
  std::string out;          // the report's folder
  std::string cifar_dir;    // CIFAR-10 binary files (claims on the cnn task)
  std::string fashion_dir;  // Fashion-MNIST IDX files; empty: Debian's dataset-fashion-mnist
  bool progress = true;     // a line per finished run on stderr
  std::string command;      // the command line, quoted in the report
};

struct ClaimInfo {
  std::string name, paper, statement;
  bool needs_cifar = false;
  bool has_code_protocol = false;  // --protocol code applies
};

// Every claim, in the order `metagrad reproduce --list` shows them.
const std::vector<ClaimInfo>& claims();

// Runs claim `name` and writes its report; returns the verdict line
// ("verdict: reproduced | not reproduced | inconclusive (...)"). Throws
// mg::Interrupted when `stop` turns true (the finished runs are kept) and
// mg::Error for an unknown claim (listing the valid ones) or missing data.
std::string reproduce(const std::string& name, const ReproduceOptions& options, const std::atomic<bool>& stop);

}  // namespace mg::optim::experiments
