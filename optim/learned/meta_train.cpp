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

// Where a meta-training's problems come from: one task's splits, or the
// tasks of a family, each problem with its run's horizon (and the task it
// belongs to, kept alive beside it).
class ProblemSource {
 public:
  struct Drawn {
    std::unique_ptr<Task> task;  // a family's; empty for one task
    std::unique_ptr<Problem> problem;
    Horizon horizon;
  };
  virtual ~ProblemSource() = default;
  virtual Drawn training(std::uint64_t index) const = 0;
  virtual Drawn validation(std::uint64_t index) const = 0;
};

class OneTask : public ProblemSource {
 public:
  explicit OneTask(const Task& task) : task_(task) {}
  Drawn training(std::uint64_t index) const override {
    return {nullptr, task_.problem(Split::Train, index), task_.horizon()};
  }
  Drawn validation(std::uint64_t index) const override {
    return {nullptr, task_.problem(Split::Validation, index), task_.horizon()};
  }

 private:
  const Task& task_;
};

// Training problem i is task i's first; validation problem i is the first
// validation problem of task 2^40 + i, a task no training draws.
class FamilyTasks : public ProblemSource {
 public:
  explicit FamilyTasks(const TaskFamily& family) : family_(family) {}
  Drawn training(std::uint64_t index) const override { return draw(index, Split::Train); }
  Drawn validation(std::uint64_t index) const override {
    return draw((std::uint64_t{1} << 40) + index, Split::Validation);
  }

 private:
  Drawn draw(std::uint64_t index, Split split) const {
    Drawn drawn;
    drawn.task = family_.task(index);
    drawn.problem = drawn.task->problem(split, 0);
    drawn.horizon = drawn.task->horizon();
    return drawn;
  }
  const TaskFamily& family_;
};

// The mean final loss of the frozen learned optimizer on the validation
// problems, each rank running its share of them concurrently, summed in
// problem order.
double validate(const ProblemSource& source, LearnedOptimizer& learned, std::int64_t problems,
                const distributed::Ranks& ranks) {
  const distributed::Range mine = distributed::shard(problems, ranks.rank(), ranks.size());
  const auto finals = map_concurrently<double>(mine.end - mine.begin, [&](std::int64_t i) {
    const auto drawn = source.validation(static_cast<std::uint64_t>(mine.begin + i));
    const std::int64_t steps = drawn.horizon.steps;
    return run_optimizer(
               *drawn.problem, [&](const NamedParameters& params) { return learned.make(params, steps); }, steps)
        .back();
  });
  double total = 0;
  for (double final_loss : finals) total += final_loss;
  return ranks.sum({total})[0] / static_cast<double>(problems);
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

// The meta-training of one call: its state, what it saves and how it
// reports; run() is the epoch loop.
class MetaTraining {
 public:
  MetaTraining(const ProblemSource& source, LearnedOptimizer& learned, const MetaGradientEstimator& estimator,
               const MetaTrainOptions& o)
      : source_(source),
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
  std::string update_config() const {
    return fmt::format("clip={:.17g}, skip_non_finite={:d}", o_.update.clip, o_.update.skip_non_finite);
  }
  void resume();
  void save_checkpoint(std::int64_t epoch) const;
  void save_best();
  MetaStepResult epoch_step(std::int64_t epoch);
  void report(std::int64_t epoch, const MetaStepResult& step, double validation, bool evaluated);

  const ProblemSource& source_;
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
  // A checkpoint from before clipping and the guard had neither.
  const std::string update = position_.has("meta_update") ? position_.word("meta_update") : "clip=0, skip_non_finite=0";
  MG_CHECK(update == update_config(), "{}: the run was meta-trained with {}, not {} (resume with the same options)",
           checkpoint_path(), update, update_config());
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
                                       {{"estimator_config", estimator_.config()}, {"meta_update", update_config()}}))
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
MetaStepResult MetaTraining::epoch_step(std::int64_t epoch) {
  const std::int64_t k = o_.meta_batch;
  std::vector<ProblemSource::Drawn> problems;
  for (std::int64_t i = 0; i < k; ++i)
    problems.push_back(source_.training(static_cast<std::uint64_t>((epoch * ranks_.size() + ranks_.rank()) * k + i)));
  std::vector<MetaBatchProblem> batch;
  for (const auto& drawn : problems) batch.push_back({drawn.problem.get(), drawn.horizon});
  try {
    return meta_train_step(batch, learned_, *meta_optimizer_, estimator_, ranks_, static_cast<std::uint64_t>(epoch),
                           o_.update);
  } catch (const Error& e) {
    throw Error(fmt::format("meta-train epoch {}: {}", epoch + 1, e.what()));
  }
}

void MetaTraining::report(std::int64_t epoch, const MetaStepResult& step, double validation, bool evaluated) {
  if (!ranks_.is_main()) return;
  const double mean = step.meta_loss;
  nlohmann::json record = {{"epoch", epoch + 1}, {"meta_loss", mean}};
  if (step.skipped > 0) record["skipped_updates"] = step.skipped;  // non-finite meta-gradients
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
    const MetaStepResult step = epoch_step(epoch);
    result_.skipped_updates += step.skipped;
    if (o_.after_epoch) o_.after_epoch(epoch + 1, learned_);
    const bool evaluate = (epoch + 1) % o_.eval_every == 0 || epoch + 1 == o_.epochs;
    double validation = NAN;
    if (evaluate) {
      validation = validate(source_, learned_, o_.validation_problems, ranks_);
      if (validation < result_.best_validation) {
        result_.best_validation = validation;
        result_.best_epoch = epoch + 1;
        for (std::size_t i = 0; i < meta_.size(); ++i) best_[i].second = meta_[i].second.detach().clone();
        save_best();
      }
    }
    report(epoch, step, validation, evaluate);
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

namespace {

MetaTrainResult meta_train_on(const ProblemSource& source, LearnedOptimizer& learned,
                              const MetaGradientEstimator& estimator, const MetaTrainOptions& o,
                              const std::atomic<bool>& stop) {
  MG_CHECK(!o.out_dir.empty(), "meta-train: an output folder is required");
  MG_CHECK(o.epochs >= 1 && o.eval_every >= 1 && o.validation_problems >= 1 && o.meta_batch >= 1,
           "meta-train: epochs, eval_every, validation_problems and meta_batch must be positive");
  std::filesystem::create_directories(o.out_dir);
  MetaTraining training(source, learned, estimator, o);
  return training.run(stop);
}

}  // namespace

MetaTrainResult meta_train(const Task& task, LearnedOptimizer& learned, const MetaGradientEstimator& estimator,
                           const MetaTrainOptions& o, const std::atomic<bool>& stop) {
  return meta_train_on(OneTask(task), learned, estimator, o, stop);
}

MetaTrainResult meta_train(const TaskFamily& family, LearnedOptimizer& learned, const MetaGradientEstimator& estimator,
                           const MetaTrainOptions& o, const std::atomic<bool>& stop) {
  return meta_train_on(FamilyTasks(family), learned, estimator, o, stop);
}

}  // namespace mg::optim::learned
