#pragma once
// Paper 2's claims share their machinery (l2l.cpp): the protocol of a claim
// (paper or code), meta-training the LSTM on several seeds, evaluating it
// against the tuned baselines, and the report's tables and verdicts; the
// four claims are in l2l_claims.cpp.
#include <cstdint>
#include <string>
#include <vector>

#include "optim/experiments/claim.hpp"

namespace mg::optim::experiments::l2l {

struct L2lProtocol {
  std::string train_task;  // what the LSTM is meta-trained on
  std::int64_t epochs = 0, eval_every = 0, meta_validation_problems = 0;
  std::string meta_optimizer;
  int validation_problems = 0, test_problems = 0;  // for the baselines' lr and the comparison
  std::vector<double> grid;
  std::int64_t inner_steps = 100;  // optimizee steps of a problem (meta-training and tuning)
  std::int64_t unroll = 20;
  Protocol source = Protocol::Paper;
  // The LSTM's settings in which the protocols differ (optimizers.md 5.7's
  // table); p and scale apply to the log_sign tasks (the quadratic has none).
  double lstm_p = 10, lstm_scale = 0.1;
  learned::LstmInit init = learned::LstmInit::Uniform;
  // Names a protocol with some of these switched (l2l-settings), safe in a
  // folder name: part of the run store's keys and the meta-training
  // folders; empty for the protocols themselves.
  std::string variant{};
};

struct MetaTraining {
  std::string weights;
  double best_validation;
  std::int64_t best_epoch;
  double seconds;  // wall clock, over every stint of a resumed run
};
struct Curves {
  std::string name;
  std::vector<std::vector<double>> per_seed;  // [seed][step]: the mean over the seed's test problems
  std::vector<double> lrs;                    // per seed: the tuned lr (baselines)
  Stats at(std::int64_t step) const {
    std::vector<double> values;
    for (const auto& curve : per_seed) values.push_back(curve[static_cast<std::size_t>(step)]);
    return summarize(values);
  }
};

// The protocol with --protocol code's settings where the claim runs under it.
L2lProtocol following(const ClaimContext& c, L2lProtocol p);
// The protocol's paragraph of the report.
std::string describe(const L2lProtocol& p, const ClaimContext& c);
// Why the paper protocol's meta lr is 1e-2 (empty under the code protocol).
std::string meta_lr_note(const L2lProtocol& p);
// The mlp claims' protocol, with `quick_test_problems` at the quick budget.
L2lProtocol mlp_protocol(const ClaimContext& c, int quick_test_problems);
// "12.5 min" or "2.1 h".
std::string duration(double seconds);
// The records of a meta-training's meta-metrics.jsonl (at least one).
std::vector<nlohmann::json> meta_training_records(const std::string& dir);
// Where seed `seed`'s meta-training lives.
std::string meta_training_dir(const ClaimContext& c, const L2lProtocol& p, std::uint64_t seed);
// Tells the run store how many runs the claim makes.
void plan(ClaimContext& c, const L2lProtocol& p, std::size_t eval_tasks);
// Meta-trains (or resumes) the LSTM on each seed: one seed per rank under mpirun.
std::vector<MetaTraining> meta_train_seeds(ClaimContext& c, const L2lProtocol& p);
void report_meta_training(ClaimContext& c, const L2lProtocol& p, const std::vector<MetaTraining>& trained);
// The learned optimizer (the first row) and the tuned baselines on `eval_task`, steps 0..steps.
std::vector<Curves> evaluate(ClaimContext& c, const L2lProtocol& p, const std::vector<MetaTraining>& trained,
                             const std::string& eval_task, std::int64_t steps);
// The table and plot of one evaluation task.
void report_evaluation(ClaimContext& c, const std::string& eval_task, const std::vector<Curves>& rows,
                       std::int64_t steps);
// Whether the learned optimizer is below every baseline at `step`, by more than the spread.
Difference below_all(const std::vector<Curves>& rows, std::int64_t step, std::string& numbers);

}  // namespace mg::optim::experiments::l2l
