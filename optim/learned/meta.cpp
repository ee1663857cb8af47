// Learned-optimizer families (lstm, mlp_lopt, hparams) and their files, the
// choice of estimator, and the meta-training loop (optimizers.md sections
// 5.3 and 10); truncated backprop is in truncated_bptt.cpp, evolution
// strategies in evolution.cpp.
#include "metagrad/optim/learned/meta.hpp"

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "../../core/check.hpp"
#include "json_file.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/concurrent.hpp"
#include "metagrad/core/distributed.hpp"
#include "metagrad/core/files.hpp"
#include "metagrad/core/generator.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/nn/serialize.hpp"
#include "metagrad/optim/learned/evolution.hpp"
#include "metagrad/optim/learned/mlp_lopt.hpp"
#include "metagrad/optim/registry.hpp"
#include "metagrad/optim/spec.hpp"

namespace mg::optim::learned {
namespace {

// Where a net's weights go: PATH for a single net; with several, PATH with
// the net's name before the extension (optimizer.conv.json).
std::string net_file(const std::string& path, const std::string& net, std::size_t nets) {
  std::filesystem::path file = path;
  if (nets > 1) file.replace_extension("." + net + file.extension().string());
  return file.string();
}

class LearnedLstm : public LearnedOptimizer {
 public:
  LearnedLstm(const Task& task, std::uint64_t seed, DType dtype, LstmInit init)
      : config_(task.lstm_config()), net_of_(task.nets()) {
    Generator g(seed);
    for (const auto& net : task.net_names())
      meta_.emplace_back(net, initial_weights(config_, g, dtype, init).requires_grad_());
  }
  std::string name() const override { return "lstm"; }
  using LearnedOptimizer::make;
  std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta) const override {
    std::map<std::string, Tensor> nets;
    for (std::size_t i = 0; i < meta_.size(); ++i) nets[meta_[i].first] = meta.at(i);
    return make_lstm_optimizer(nets, config_, params, net_of_);
  }
  void save(const std::string& path) const override {
    for (const auto& [net, phi] : meta_) save_weights(net_file(path, net, meta_.size()), phi.detach());
  }

 private:
  LstmConfig config_;
  NetOf net_of_;
};

// The MLP of section 10.1, one net for every parameter.
class LearnedMlpLopt : public LearnedOptimizer {
 public:
  LearnedMlpLopt(std::uint64_t seed, DType dtype) {
    Generator g(seed);
    meta_.emplace_back("default", mlp_lopt_initial_weights(g, dtype).requires_grad_());
  }
  std::string name() const override { return "mlp_lopt"; }
  using LearnedOptimizer::make;
  std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta) const override {
    return make_mlp_lopt_optimizer(meta.at(0), MlpLoptConfig{}, params);
  }
  void save(const std::string& path) const override { save_weights(path, meta_.front().second.detach()); }
};

std::vector<Tensor> values_of(const NamedParameters& params) {
  std::vector<Tensor> out;
  for (const auto& [name, t] : params) out.push_back(t);
  return out;
}

// Per-tensor log learning rates of a registry optimizer. Each parameter gets
// its own group, so that plain step() sees its own lr as a number.
class LearnedHyperparameters : public LearnedOptimizer {
 public:
  LearnedHyperparameters(const Task& task, std::string spec) : spec_(std::move(spec)) {
    const ParsedSpec parsed = parse_spec(spec_);
    const Values defaults = resolve(info(parsed.name).schema, parsed.arguments, "optimizer " + parsed.name);
    MG_CHECK(defaults.count("lr"), "hparams: optimizer '{}' has no lr to learn", parsed.name);
    const double lr = std::get<double>(defaults.at("lr"));
    MG_CHECK(lr > 0, "hparams: the starting lr must be positive, got {}", lr);
    for (const auto& [name, t] : task.problem(Split::Train, 0)->initial())
      meta_.emplace_back(name, scalar_tensor(std::log(lr), DType::Float64).requires_grad_());
  }
  std::string name() const override { return "hparams(" + spec_ + ")"; }
  using LearnedOptimizer::make;
  std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta) const override {
    std::vector<GroupSpec> groups;
    for (const auto& [name, p] : params)
      groups.push_back({{{name, p}}, {{"lr", fmt::format("{:.17g}", std::exp(log_lr(name, meta)))}}});
    return optim::make(spec_, groups);
  }
  std::map<std::string, Tensor> overrides() const override {
    std::map<std::string, Tensor> out;
    for (const auto& [name, log_lr] : meta_) out["lr@" + name] = exp(log_lr);
    return out;
  }
  // {"spec": ..., "lr": {name: value}}: the learned learning rates.
  void save(const std::string& path) const override {
    nlohmann::json lrs = nlohmann::json::object();
    for (const auto& [name, log_lr] : meta_) lrs[name] = std::exp(log_lr.item<double>());
    write_json(path, {{"spec", spec_}, {"lr", lrs}});
  }

 private:
  double log_lr(const std::string& name, const std::vector<Tensor>& meta) const {
    for (std::size_t i = 0; i < meta_.size(); ++i)
      if (meta_[i].first == name) return meta.at(i).item<double>();
    throw Error("hparams: no learned lr for parameter '" + name + "' (another task's parameters?)");
  }

  std::string spec_;
};

}  // namespace

std::unique_ptr<Optimizer> LearnedOptimizer::make(const NamedParameters& params) const {
  return make(params, values_of(meta_));
}

std::unique_ptr<LearnedOptimizer> make_learned_hyperparameters(const Task& task, const std::string& spec) {
  return std::make_unique<LearnedHyperparameters>(task, spec);
}

std::unique_ptr<LearnedOptimizer> make_learned_lstm(const Task& task, std::uint64_t seed, DType dtype, LstmInit init) {
  return std::make_unique<LearnedLstm>(task, seed, dtype, init);
}

std::unique_ptr<LearnedOptimizer> make_learned_mlp_lopt(std::uint64_t seed, DType dtype) {
  return std::make_unique<LearnedMlpLopt>(seed, dtype);
}

std::unique_ptr<LearnedOptimizer> make_learned(const std::string& family, const Task& task, std::uint64_t seed) {
  if (family == "lstm" || family == "lstm(init=zero_output)") return make_learned_lstm(task, seed);
  if (family == "lstm(init=uniform)") return make_learned_lstm(task, seed, DType::Float32, LstmInit::Uniform);
  if (family == "mlp_lopt") return make_learned_mlp_lopt(seed);
  if (family.rfind("hparams(", 0) == 0 && family.back() == ')')
    return make_learned_hyperparameters(task, family.substr(8, family.size() - 9));
  throw Error("unknown learned optimizer '" + family +
              "' (expected lstm, lstm(init=uniform), mlp_lopt or hparams(SPEC), e.g. hparams(adam(lr=1e-3)))");
}

OptimizerFactory load_learned(const std::string& path, const Task& task) {
  // mlp_lopt has one net whatever the task; its list has 1762 numbers, no LSTM's length.
  if (std::filesystem::exists(path)) {
    const nlohmann::json file = read_json(path, "learned optimizer");
    if (file.is_array() && static_cast<std::int64_t>(file.size()) == MlpLoptConfig::parameter_count()) {
      const std::string spec = fmt::format("mlp_lopt(weights={})", path);
      return [spec](const NamedParameters& params) { return make(spec, params); };
    }
  }
  const auto nets = task.net_names();
  if (nets.size() > 1) {  // the LSTM with one weight file per net, as meta-train writes them
    const LstmConfig c = task.lstm_config();
    const NetOf net_of = task.nets();
    const std::string spec =
        fmt::format("lstm(weights={}, preprocess={}, p={}, scale={}, hidden={})",
                    net_file(path, nets.front(), nets.size()), c.preprocess, c.p, c.scale, c.hidden);
    return [=](const NamedParameters& params) {
      std::vector<GroupSpec> groups;  // consecutive parameters of one net share a group
      std::string last;
      for (const auto& [name, p] : params) {
        const std::string net = net_of(name);
        if (groups.empty() || net != last)
          groups.push_back({{}, {{"weights", net_file(path, net, nets.size())}, {"net", net}}});
        groups.back().params.emplace_back(name, p);
        last = net;
      }
      return make(spec, groups);
    };
  }
  const nlohmann::json file = read_json(path, "learned optimizer");
  if (file.is_array()) {
    const LstmConfig c = task.lstm_config();
    const std::string spec = fmt::format("lstm(weights={}, preprocess={}, p={}, scale={}, hidden={})", path,
                                         c.preprocess, c.p, c.scale, c.hidden);
    return [spec](const NamedParameters& params) { return make(spec, params); };
  }
  MG_CHECK(file.is_object() && file.contains("spec") && file["spec"].is_string() && file.contains("lr") &&
               file["lr"].is_object(),
           "learned optimizer '{}' is neither an LSTM weight list nor {{\"spec\": ..., \"lr\": {{...}}}}", path);
  const std::string spec = file["spec"];
  std::map<std::string, double> lrs;
  for (const auto& [name, lr] : file["lr"].items()) {
    MG_CHECK(lr.is_number() && lr.get<double>() > 0, "learned optimizer '{}': lr of '{}' is not a positive number",
             path, name);
    lrs[name] = lr.get<double>();
  }
  return [spec, lrs, path](const NamedParameters& params) {
    std::vector<GroupSpec> groups;
    for (const auto& [name, p] : params) {
      auto it = lrs.find(name);
      MG_CHECK(it != lrs.end(), "learned optimizer '{}' has no lr for parameter '{}'", path, name);
      groups.push_back({{{name, p}}, {{"lr", fmt::format("{:.17g}", it->second)}}});
    }
    return make(spec, groups);
  };
}

std::unique_ptr<MetaGradientEstimator> make_estimator(const MetaTrainOptions& o, const Task& task) {
  if (o.estimator == "tbptt")
    return std::make_unique<TruncatedBptt>(o.mode, task.steps, task.unroll, o.recompute_every);
  MG_CHECK(o.recompute_every == 0, "meta-train: recompute_every applies to tbptt, not {}", o.estimator);
  if (o.estimator == "es" || o.estimator == "pes")
    return std::make_unique<EvolutionStrategies>(o.estimator == "pes", task.steps, task.unroll, o.sigma, o.seed);
  throw Error("unknown meta-gradient estimator '" + o.estimator + "' (expected tbptt, es or pes)");
}

namespace {

Tensor scalar(double v) { return Tensor::from_vector(std::vector<double>{v}, {}); }

// The mean final loss of the frozen learned optimizer on the validation
// problems, each rank running its share of them concurrently, summed in
// problem order.
double validate(const Task& task, LearnedOptimizer& learned, std::int64_t problems, const distributed::Ranks& ranks) {
  const distributed::Range mine = distributed::shard(problems, ranks.rank(), ranks.size());
  const auto finals = map_concurrently<double>(mine.end - mine.begin, [&](std::int64_t i) {
    const auto problem = task.problem(Split::Validation, static_cast<std::uint64_t>(mine.begin + i));
    return run_optimizer(
               *problem, [&](const NamedParameters& params) { return learned.make(params); }, task.steps)
        .back();
  });
  double total = 0;
  for (double final_loss : finals) total += final_loss;
  return ranks.sum({total})[0] / static_cast<double>(problems);
}

// The mean of a meta-batch's values over every rank's problems, summed in
// problem order (rank r's k-th problem is number r * K + k), so that the
// bits do not depend on how the problems are split over ranks: each rank
// contributes its rows to a sum that is zero elsewhere (adding zeros is
// exact), then every rank adds the rows in order.
Tensor meta_batch_mean(const std::vector<Tensor>& mine, const distributed::Ranks& ranks) {
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
  return total / static_cast<double>(rows.size());
}

double meta_batch_mean(const std::vector<double>& mine, const distributed::Ranks& ranks) {
  std::vector<double> all(static_cast<std::size_t>(ranks.size()) * mine.size(), 0.0);
  std::copy(mine.begin(), mine.end(), all.begin() + static_cast<std::ptrdiff_t>(ranks.rank() * mine.size()));
  all = ranks.sum(all);
  double total = 0;
  for (double v : all) total += v;
  return total / static_cast<double>(all.size());
}

std::string checkpoint_path(const MetaTrainOptions& o) { return o.out_dir + "/meta-checkpoint.mgt"; }

// The estimator's name as a checkpoint stores it: a number.
constexpr const char* kEstimators[] = {"tbptt", "es", "pes"};
double estimator_code(const std::string& name) {
  const auto* at = std::find(std::begin(kEstimators), std::end(kEstimators), name);
  return static_cast<double>(at - std::begin(kEstimators));
}
std::string estimator_name(double code) {
  const auto i = static_cast<std::size_t>(code);
  return code >= 0 && i < std::size(kEstimators) && static_cast<double>(i) == code ? kEstimators[i] : "unknown";
}

}  // namespace

double meta_train_step(const std::vector<const Problem*>& problems, LearnedOptimizer& learned,
                       Optimizer& meta_optimizer, const MetaGradientEstimator& estimator,
                       const distributed::Ranks& ranks, std::uint64_t epoch) {
  MG_CHECK(!problems.empty(), "meta-train: a meta-batch needs at least one problem");
  const auto k = static_cast<std::int64_t>(problems.size());
  NamedParameters& meta = learned.meta_parameters();
  std::vector<std::unique_ptr<MetaGradientEstimator::Run>> runs(problems.size());
  run_concurrently(k, [&](std::int64_t i) {
    const auto index =
        static_cast<std::uint64_t>((static_cast<std::int64_t>(epoch) * ranks.size() + ranks.rank()) * k + i);
    runs[static_cast<std::size_t>(i)] = estimator.start(*problems[static_cast<std::size_t>(i)], index, learned);
  });
  const std::int64_t parts = runs.front()->parts();
  double meta_loss = 0;
  for (std::int64_t u = 0; u < estimator.truncations(); ++u) {
    run_concurrently(k * parts, [&](std::int64_t j) { runs[static_cast<std::size_t>(j / parts)]->advance(j % parts); });
    std::vector<TruncationEstimate> estimates;
    for (auto& run : runs) estimates.push_back(run->estimate());
    meta_optimizer.zero_grad();
    for (std::size_t i = 0; i < meta.size(); ++i) {
      std::vector<Tensor> gradients;
      for (const auto& estimate : estimates) gradients.push_back(estimate.meta_gradients[i]);
      const Tensor gradient = meta_batch_mean(gradients, ranks);
      const auto norm = sum(gradient * gradient).item<double>();
      MG_CHECK(std::isfinite(norm), "the meta-gradient of '{}' is not finite", meta[i].first);
      meta[i].second.set_grad(gradient);
    }
    meta_optimizer.step();
    std::vector<double> losses;
    for (const auto& estimate : estimates) losses.push_back(estimate.meta_loss);
    meta_loss += meta_batch_mean(losses, ranks);
  }
  return meta_loss / static_cast<double>(estimator.truncations());
}

MetaTrainResult meta_train(const Task& task, LearnedOptimizer& learned, const MetaTrainOptions& o,
                           const std::atomic<bool>& stop) {
  MG_CHECK(!o.out_dir.empty(), "meta-train: an output folder is required");
  MG_CHECK(o.epochs >= 1 && o.eval_every >= 1 && o.validation_problems >= 1 && o.meta_batch >= 1,
           "meta-train: epochs, eval_every, validation_problems and meta_batch must be positive");
  std::filesystem::create_directories(o.out_dir);
  NamedParameters& meta = learned.meta_parameters();
  auto meta_optimizer = make(o.meta_optimizer, meta);
  const auto estimator = make_estimator(o, task);

  MetaTrainResult result;
  result.best_validation = INFINITY;
  NamedParameters best;
  for (const auto& [name, t] : meta) best.emplace_back(name, t.detach().clone());
  std::int64_t first_epoch = 0;
  double wall_before = 0;
  if (o.resume) {
    const auto saved = nn::load_tensors(checkpoint_path(o));  // validated before anything changes
    std::map<std::string, Tensor> by_key(saved.begin(), saved.end());
    nn::NamedTensors meta_state;
    for (const auto& [key, t] : saved)
      if (key.rfind("meta_optimizer.", 0) == 0) meta_state.emplace_back(key.substr(15), t);
    for (const char* key : {"epoch", "best_validation", "best_epoch", "wall"})
      MG_CHECK(by_key.count(key), "{}: not a meta-training checkpoint (no '{}')", checkpoint_path(o), key);
    for (const auto& [name, t] : meta) {
      for (const char* prefix : {"meta.", "best."})
        MG_CHECK(by_key.count(prefix + name) && by_key.at(prefix + name).shape() == t.shape(),
                 "{}: the checkpoint has no '{}{}' of shape {} (another task or learned optimizer?)",
                 checkpoint_path(o), prefix, name, mg::to_string(t.shape()));
    }
    // A checkpoint from before evolution strategies used tbptt.
    const std::string saved_estimator =
        by_key.count("estimator") ? estimator_name(by_key.at("estimator").item<double>()) : "tbptt";
    MG_CHECK(saved_estimator == o.estimator,
             "{}: the run was meta-trained with the {} estimator, not {} (resume with the same --estimator)",
             checkpoint_path(o), saved_estimator, o.estimator);
    // A checkpoint from before meta-batches meta-trained one problem an epoch.
    const double saved_batch = by_key.count("meta_batch") ? by_key.at("meta_batch").item<double>() : 1.0;
    MG_CHECK(saved_batch == static_cast<double>(o.meta_batch),
             "{}: the run was meta-trained with a meta-batch of {}, not {} (resume with the same --meta-batch, or "
             "--population for es and pes)",
             checkpoint_path(o), saved_batch, o.meta_batch);
    meta_optimizer->load_state_dict(meta_state);
    NoGradGuard no_grad;
    for (std::size_t i = 0; i < meta.size(); ++i) {
      meta[i].second.copy_(by_key.at("meta." + meta[i].first));
      best[i].second = by_key.at("best." + meta[i].first).clone();
    }
    first_epoch = static_cast<std::int64_t>(by_key.at("epoch").item<double>());
    result.best_validation = by_key.at("best_validation").item<double>();
    result.best_epoch = static_cast<std::int64_t>(by_key.at("best_epoch").item<double>());
    wall_before = by_key.at("wall").item<double>();
  }
  const distributed::Ranks ranks(o.data_parallel);
  const bool main_rank = ranks.is_main();
  if (ranks.parallel()) {
    std::vector<Tensor> meta_values = values_of(meta);
    distributed::broadcast_(meta_values);  // every rank starts from rank 0's meta-parameters
  }
  const auto stop_requested = [&] { return ranks.max(stop.load() ? 1.0 : 0.0) > 0; };
  const auto started = std::chrono::steady_clock::now();
  const auto wall = [&] {
    return wall_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  const auto save_checkpoint = [&](std::int64_t epoch) {
    if (!main_rank) return;
    nn::NamedTensors all;
    for (const auto& [name, t] : meta) all.emplace_back("meta." + name, t.detach());
    for (const auto& [name, t] : best) all.emplace_back("best." + name, t);
    for (const auto& [key, t] : meta_optimizer->state_dict()) all.emplace_back("meta_optimizer." + key, t);
    all.emplace_back("epoch", scalar(static_cast<double>(epoch)));
    all.emplace_back("best_validation", scalar(result.best_validation));
    all.emplace_back("best_epoch", scalar(static_cast<double>(result.best_epoch)));
    all.emplace_back("wall", scalar(wall()));
    all.emplace_back("meta_batch", scalar(static_cast<double>(o.meta_batch)));
    all.emplace_back("estimator", scalar(estimator_code(o.estimator)));
    nn::save_tensors(checkpoint_path(o), all);
  };
  // The best meta-parameters, for users: swapped in, written, swapped out.
  const auto save_best = [&] {
    if (!main_rank) return;
    NoGradGuard no_grad;
    std::vector<Tensor> current;
    for (auto& [name, t] : meta) current.push_back(t.detach().clone());
    for (std::size_t i = 0; i < meta.size(); ++i) meta[i].second.copy_(best[i].second);
    learned.save(o.out_dir + "/optimizer.json");
    for (std::size_t i = 0; i < meta.size(); ++i) meta[i].second.copy_(current[i]);
  };
  std::ofstream metrics;  // rank 0 alone writes
  if (main_rank)
    metrics = open_log(o.out_dir + "/meta-metrics.jsonl", o.resume, "epoch", static_cast<double>(first_epoch));
  const bool terminal = ::isatty(::fileno(stderr)) != 0;
  const bool progress = o.progress && main_rank;

  // Every epoch meta-trains on K problems per rank, run concurrently: rank
  // r of R takes training problems (epoch * R + r) * K + k, and each
  // unroll's meta-gradient is the mean over all R * K of them.
  const std::int64_t k = o.meta_batch;
  std::int64_t epoch = first_epoch;
  for (; epoch < o.epochs && !stop_requested(); ++epoch) {
    std::vector<std::unique_ptr<Problem>> problems;
    for (std::int64_t i = 0; i < k; ++i)
      problems.push_back(
          task.problem(Split::Train, static_cast<std::uint64_t>((epoch * ranks.size() + ranks.rank()) * k + i)));
    std::vector<const Problem*> batch;
    for (const auto& problem : problems) batch.push_back(problem.get());
    double mean = 0;
    try {
      mean = meta_train_step(batch, learned, *meta_optimizer, *estimator, ranks, static_cast<std::uint64_t>(epoch));
    } catch (const Error& e) {
      throw Error(fmt::format("meta-train epoch {}: {}", epoch + 1, e.what()));
    }
    if (o.after_epoch) o.after_epoch(epoch + 1, learned);
    const bool evaluate = (epoch + 1) % o.eval_every == 0 || epoch + 1 == o.epochs;
    double validation = NAN;
    if (evaluate) {
      validation = validate(task, learned, o.validation_problems, ranks);
      if (validation < result.best_validation) {
        result.best_validation = validation;
        result.best_epoch = epoch + 1;
        for (std::size_t i = 0; i < meta.size(); ++i) best[i].second = meta[i].second.detach().clone();
        save_best();
      }
    }
    if (main_rank)
      metrics << fmt::format("{{\"epoch\": {}, \"meta_loss\": {:.9g}{}, \"wall_s\": {:.3f}}}", epoch + 1, mean,
                             evaluate ? fmt::format(", \"validation_loss\": {:.9g}", validation) : std::string(),
                             wall())
              << std::endl;
    if (progress) {
      const double per_epoch = (wall() - wall_before) / static_cast<double>(epoch + 1 - first_epoch);
      const std::string line = fmt::format(
          "epoch {}/{}  meta-loss {:.4g}  best validation {:.4g} (epoch {})  ETA {:.0f}s", epoch + 1, o.epochs, mean,
          result.best_validation, result.best_epoch, per_epoch * static_cast<double>(o.epochs - epoch - 1));
      if (terminal)
        std::fprintf(stderr, "\r%s   ", line.c_str());
      else if (evaluate)
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    if (evaluate) save_checkpoint(epoch + 1);
  }
  if (progress && terminal) std::fputc('\n', stderr);
  result.epochs_done = epoch;
  result.interrupted = epoch < o.epochs;
  result.wall_seconds = wall();
  save_checkpoint(epoch);
  save_best();
  return result;
}

}  // namespace mg::optim::learned
