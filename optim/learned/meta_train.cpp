// The meta-training loop (optimizers.md sections 5.3 and 10.2): meta-batches
// of problems on every core and rank, validation, the best meta-parameters,
// and checkpoints that a resumed run continues bit for bit.
#include "metagrad/optim/learned/meta_train.hpp"

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/concurrent.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/nn/serialize.hpp"
#include "metagrad/optim/registry.hpp"
#include "metagrad/optim/training_loop.hpp"

namespace mg::optim::learned {
namespace {

// The mean final loss of the frozen learned optimizer on the validation
// problems, each rank running its share of them concurrently, summed in
// problem order.
double validate(const Task& task, LearnedOptimizer& learned, std::int64_t problems, const distributed::Ranks& ranks) {
  const distributed::Range mine = distributed::shard(problems, ranks.rank(), ranks.size());
  const auto finals = map_concurrently<double>(mine.end - mine.begin, [&](std::int64_t i) {
    const auto problem = task.problem(Split::Validation, static_cast<std::uint64_t>(mine.begin + i));
    return run_optimizer(
               *problem, [&](const NamedParameters& params) { return learned.make(params, task.steps); }, task.steps)
        .back();
  });
  double total = 0;
  for (double final_loss : finals) total += final_loss;
  return ranks.sum({total})[0] / static_cast<double>(problems);
}

// The mean of a meta-batch's values over every rank's `active` runs (the
// others give zeros), summed in problem order (rank r's k-th problem is
// number r * K + k), so that the bits do not depend on how the problems are
// split over ranks: each rank contributes its rows to a sum that is zero
// elsewhere (adding zeros is exact), then every rank adds the rows in order.
Tensor meta_batch_mean(const std::vector<Tensor>& mine, const distributed::Ranks& ranks, double active) {
  NoGradGuard no_grad;
  const auto k = static_cast<std::int64_t>(mine.size());
  if (!ranks.parallel() && k == 1) return mine.front();
  std::vector<Tensor> rows = mine;
  if (ranks.parallel()) {
    const Shape shape = mine.front().shape();
    Tensor all = zeros({ranks.size() * k, mine.front().numel()}, mine.front().dtype());
    for (std::int64_t i = 0; i < k; ++i)
      all.narrow(0, ranks.rank() * k + i, 1).copy_(mine[static_cast<std::size_t>(i)].reshape({1, -1}));
    distributed::all_reduce_(all);
    rows.clear();
    for (std::int64_t i = 0; i < all.size(0); ++i) rows.push_back(all.narrow(0, i, 1).reshape(shape));
  }
  Tensor total = rows.front();
  for (std::size_t i = 1; i < rows.size(); ++i) total = total + rows[i];
  return total / active;
}

double meta_batch_mean(const std::vector<double>& mine, const distributed::Ranks& ranks, double active) {
  std::vector<double> all(static_cast<std::size_t>(ranks.size()) * mine.size(), 0.0);
  std::copy(mine.begin(), mine.end(), all.begin() + static_cast<std::ptrdiff_t>(ranks.rank() * mine.size()));
  all = ranks.sum(all);
  double total = 0;
  for (double v : all) total += v;
  return total / active;
}

// The estimator a checkpoint names: its config, or (checkpoints from before
// estimators were objects) the code of its name with no options, or
// nothing (before evolution strategies: tbptt).
std::string saved_estimator(const LoopPosition& position) {
  if (position.has("estimator_config")) return position.word("estimator_config");
  if (!position.has("estimator")) return "tbptt";
  constexpr const char* kCodes[] = {"tbptt", "es", "pes"};
  const double code = position.number("estimator");
  const auto i = static_cast<std::size_t>(code);
  return code >= 0 && i < std::size(kCodes) && static_cast<double>(i) == code ? kCodes[i] : "unknown";
}

bool same_estimator(const std::string& saved, const MetaGradientEstimator& estimator) {
  return saved == estimator.config() || (saved.find('(') == std::string::npos && saved == estimator.name());
}

}  // namespace

double meta_train_step(const std::vector<MetaBatchProblem>& problems, LearnedOptimizer& learned,
                       Optimizer& meta_optimizer, const MetaGradientEstimator& estimator,
                       const distributed::Ranks& ranks, std::uint64_t epoch) {
  MG_CHECK(!problems.empty(), "meta-train: a meta-batch needs at least one problem");
  const auto k = static_cast<std::int64_t>(problems.size());
  NamedParameters& meta = learned.meta_parameters();
  std::vector<std::unique_ptr<MetaGradientEstimator::Run>> runs(problems.size());
  run_concurrently(k, [&](std::int64_t i) {
    const auto index =
        static_cast<std::uint64_t>((static_cast<std::int64_t>(epoch) * ranks.size() + ranks.rank()) * k + i);
    const MetaBatchProblem& p = problems[static_cast<std::size_t>(i)];
    runs[static_cast<std::size_t>(i)] = estimator.start(*p.problem, p.horizon, index, learned);
  });
  const std::int64_t parts = runs.front()->parts();
  double meta_loss = 0;
  std::int64_t truncations = 0;
  for (;; ++truncations) {
    std::vector<std::size_t> going;  // the runs that have not ended, in order
    for (std::size_t i = 0; i < runs.size(); ++i)
      if (!runs[i]->done()) going.push_back(i);
    const double active = ranks.sum({static_cast<double>(going.size())})[0];
    if (active == 0) break;
    const auto n = static_cast<std::int64_t>(going.size());
    run_concurrently(n * parts,
                     [&](std::int64_t j) { runs[going[static_cast<std::size_t>(j / parts)]]->advance(j % parts); });
    std::vector<TruncationEstimate> estimates(runs.size());
    for (std::size_t i : going) estimates[i] = runs[i]->estimate();
    meta_optimizer.zero_grad();
    for (std::size_t i = 0; i < meta.size(); ++i) {
      std::vector<Tensor> gradients;
      for (const auto& estimate : estimates)
        gradients.push_back(estimate.meta_gradients.empty() ? zeros_like(meta[i].second.detach())
                                                            : estimate.meta_gradients.at(i));
      const Tensor gradient = meta_batch_mean(gradients, ranks, active);
      const auto norm = sum(gradient * gradient).item<double>();
      MG_CHECK(std::isfinite(norm), "the meta-gradient of '{}' is not finite", meta[i].first);
      meta[i].second.set_grad(gradient);
    }
    meta_optimizer.step();
    std::vector<double> losses;
    for (const auto& estimate : estimates) losses.push_back(estimate.meta_loss);
    meta_loss += meta_batch_mean(losses, ranks, active);
  }
  return meta_loss / static_cast<double>(std::max<std::int64_t>(truncations, 1));
}

namespace {

// The meta-training of one call: its state, what it saves and how it
// reports; run() is the epoch loop.
class MetaTraining {
 public:
  MetaTraining(const Task& task, LearnedOptimizer& learned, const MetaGradientEstimator& estimator,
               const MetaTrainOptions& o)
      : task_(task),
        learned_(learned),
        estimator_(estimator),
        o_(o),
        meta_(learned.meta_parameters()),
        meta_optimizer_(make(o.meta_optimizer, meta_)),
        ranks_(o.data_parallel) {
    result_.best_validation = INFINITY;
    for (const auto& [name, t] : meta_) best_.emplace_back(name, t.detach().clone());
    if (o.resume) resume();
    if (ranks_.parallel()) {
      std::vector<Tensor> meta_values;
      for (const auto& [name, t] : meta_) meta_values.push_back(t);
      distributed::broadcast_(meta_values);  // every rank starts from rank 0's meta-parameters
    }
    if (ranks_.is_main())
      metrics_ = MetricsLog(o.out_dir + "/meta-metrics.jsonl", o.resume, "epoch", static_cast<double>(first_epoch_));
  }

  MetaTrainResult run(const std::atomic<bool>& stop);

 private:
  std::string checkpoint_path() const { return o_.out_dir + "/meta-checkpoint.mgt"; }
  void resume();
  void save_checkpoint(std::int64_t epoch) const;
  void save_best();
  double epoch_step(std::int64_t epoch);
  void report(std::int64_t epoch, double mean, double validation, bool evaluated);

  const Task& task_;
  LearnedOptimizer& learned_;
  const MetaGradientEstimator& estimator_;
  const MetaTrainOptions& o_;
  NamedParameters& meta_;
  std::unique_ptr<Optimizer> meta_optimizer_;
  distributed::Ranks ranks_;
  NamedParameters best_;
  MetaTrainResult result_;
  std::int64_t first_epoch_ = 0;
  LoopPosition position_;
  MetricsLog metrics_;  // rank 0 alone writes
  bool terminal_ = ::isatty(::fileno(stderr)) != 0;
};

void MetaTraining::resume() {
  const auto saved = nn::load_tensors(checkpoint_path());  // validated before anything changes
  position_ = LoopPosition(saved, {"epoch", "best_validation", "best_epoch"}, checkpoint_path());
  std::map<std::string, Tensor> by_key(saved.begin(), saved.end());
  for (const auto& [name, t] : meta_)
    for (const char* prefix : {"meta.", "best."})
      MG_CHECK(by_key.count(prefix + name) && by_key.at(prefix + name).shape() == t.shape(),
               "{}: the checkpoint has no '{}{}' of shape {} (another task or learned optimizer?)", checkpoint_path(),
               prefix, name, mg::to_string(t.shape()));
  const std::string estimator = saved_estimator(position_);
  MG_CHECK(same_estimator(estimator, estimator_),
           "{}: the run was meta-trained with {}, not {} (resume with the same estimator and options)",
           checkpoint_path(), estimator, estimator_.config());
  // A checkpoint from before meta-batches meta-trained one problem an epoch.
  const double saved_batch = position_.has("meta_batch") ? position_.number("meta_batch") : 1.0;
  MG_CHECK(saved_batch == static_cast<double>(o_.meta_batch),
           "{}: the run was meta-trained with a meta-batch of {}, not {} (resume with the same --meta-batch, or "
           "--population for es and pes)",
           checkpoint_path(), saved_batch, o_.meta_batch);
  nn::NamedTensors meta_state;
  for (const auto& [key, t] : saved)
    if (key.rfind("meta_optimizer.", 0) == 0) meta_state.emplace_back(key.substr(15), t);
  meta_optimizer_->load_state_dict(meta_state);
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < meta_.size(); ++i) {
    meta_[i].second.copy_(by_key.at("meta." + meta_[i].first));
    best_[i].second = by_key.at("best." + meta_[i].first).clone();
  }
  first_epoch_ = static_cast<std::int64_t>(position_.number("epoch"));
  result_.best_validation = position_.number("best_validation");
  result_.best_epoch = static_cast<std::int64_t>(position_.number("best_epoch"));
}

void MetaTraining::save_checkpoint(std::int64_t epoch) const {
  if (!ranks_.is_main()) return;
  nn::NamedTensors all;
  for (const auto& [name, t] : meta_) all.emplace_back("meta." + name, t.detach());
  for (const auto& [name, t] : best_) all.emplace_back("best." + name, t);
  for (const auto& [key, t] : meta_optimizer_->state_dict()) all.emplace_back("meta_optimizer." + key, t);
  for (auto& entry : position_.tensors({{"epoch", static_cast<double>(epoch)},
                                        {"best_validation", result_.best_validation},
                                        {"best_epoch", static_cast<double>(result_.best_epoch)},
                                        {"meta_batch", static_cast<double>(o_.meta_batch)}},
                                       {{"estimator_config", estimator_.config()}}))
    all.push_back(std::move(entry));
  nn::save_tensors(checkpoint_path(), all);
}

// The best meta-parameters, for users: swapped in, written, swapped out.
void MetaTraining::save_best() {
  if (!ranks_.is_main()) return;
  NoGradGuard no_grad;
  std::vector<Tensor> current;
  for (auto& [name, t] : meta_) current.push_back(t.detach().clone());
  for (std::size_t i = 0; i < meta_.size(); ++i) meta_[i].second.copy_(best_[i].second);
  learned_.save(o_.out_dir + "/optimizer.json");
  for (std::size_t i = 0; i < meta_.size(); ++i) meta_[i].second.copy_(current[i]);
}

// K problems per rank, run concurrently: rank r of R takes training problems
// (epoch * R + r) * K + k, and each truncation's meta-gradient is the mean
// over all R * K of them.
double MetaTraining::epoch_step(std::int64_t epoch) {
  const std::int64_t k = o_.meta_batch;
  std::vector<std::unique_ptr<Problem>> problems;
  for (std::int64_t i = 0; i < k; ++i)
    problems.push_back(
        task_.problem(Split::Train, static_cast<std::uint64_t>((epoch * ranks_.size() + ranks_.rank()) * k + i)));
  std::vector<MetaBatchProblem> batch;
  for (const auto& problem : problems) batch.push_back({problem.get(), task_.horizon()});
  try {
    return meta_train_step(batch, learned_, *meta_optimizer_, estimator_, ranks_, static_cast<std::uint64_t>(epoch));
  } catch (const Error& e) {
    throw Error(fmt::format("meta-train epoch {}: {}", epoch + 1, e.what()));
  }
}

void MetaTraining::report(std::int64_t epoch, double mean, double validation, bool evaluated) {
  if (!ranks_.is_main()) return;
  nlohmann::json record = {{"epoch", epoch + 1}, {"meta_loss", mean}};
  if (evaluated) record["validation_loss"] = validation;
  record["wall_s"] = std::round(position_.wall() * 1000) / 1000;
  metrics_.write(record);
  if (!o_.progress) return;
  const double per_epoch = position_.stint_seconds() / static_cast<double>(epoch + 1 - first_epoch_);
  const std::string line = fmt::format("epoch {}/{}  meta-loss {:.4g}  best validation {:.4g} (epoch {})  ETA {:.0f}s",
                                       epoch + 1, o_.epochs, mean, result_.best_validation, result_.best_epoch,
                                       per_epoch * static_cast<double>(o_.epochs - epoch - 1));
  if (terminal_)
    std::fprintf(stderr, "\r%s   ", line.c_str());
  else if (evaluated)
    std::fprintf(stderr, "%s\n", line.c_str());
}

MetaTrainResult MetaTraining::run(const std::atomic<bool>& stop) {
  const auto stop_requested = [&] { return ranks_.max(stop.load() ? 1.0 : 0.0) > 0; };
  std::int64_t epoch = first_epoch_;
  for (; epoch < o_.epochs && !stop_requested(); ++epoch) {
    const double mean = epoch_step(epoch);
    if (o_.after_epoch) o_.after_epoch(epoch + 1, learned_);
    const bool evaluate = (epoch + 1) % o_.eval_every == 0 || epoch + 1 == o_.epochs;
    double validation = NAN;
    if (evaluate) {
      validation = validate(task_, learned_, o_.validation_problems, ranks_);
      if (validation < result_.best_validation) {
        result_.best_validation = validation;
        result_.best_epoch = epoch + 1;
        for (std::size_t i = 0; i < meta_.size(); ++i) best_[i].second = meta_[i].second.detach().clone();
        save_best();
      }
    }
    report(epoch, mean, validation, evaluate);
    if (evaluate) save_checkpoint(epoch + 1);
  }
  if (o_.progress && ranks_.is_main() && terminal_) std::fputc('\n', stderr);
  result_.epochs_done = epoch;
  result_.interrupted = epoch < o_.epochs;
  result_.wall_seconds = position_.wall();
  save_checkpoint(epoch);
  save_best();
  return result_;
}

}  // namespace

MetaTrainResult meta_train(const Task& task, LearnedOptimizer& learned, const MetaGradientEstimator& estimator,
                           const MetaTrainOptions& o, const std::atomic<bool>& stop) {
  MG_CHECK(!o.out_dir.empty(), "meta-train: an output folder is required");
  MG_CHECK(o.epochs >= 1 && o.eval_every >= 1 && o.validation_problems >= 1 && o.meta_batch >= 1,
           "meta-train: epochs, eval_every, validation_problems and meta_batch must be positive");
  std::filesystem::create_directories(o.out_dir);
  MetaTraining training(task, learned, estimator, o);
  return training.run(stop);
}

}  // namespace mg::optim::learned
