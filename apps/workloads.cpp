#include "workloads.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "metagrad/metagrad.hpp"

namespace mg::apps {
namespace {

namespace F = nn::functional;

// What one measured step does: a training step (forward, backward, SGD),
// inference, or a Hessian-vector product of the training loss (forward,
// backward with create_graph, and the second backward).
enum class Kind { Train, Infer, Hvp };

struct Workload {
  std::shared_ptr<nn::Module> model;
  Shape input;  // per example
  Kind kind;
};

Workload make_workload(const std::string& name) {
  Generator g(0);
  const auto suffix = name.substr(name.rfind('-') + 1);
  const Kind kind = suffix == "train" ? Kind::Train : suffix == "infer" ? Kind::Infer : Kind::Hvp;
  if (name == "cnn-train" || name == "cnn-infer" || name == "cnn-hvp")
    return {std::make_shared<nn::SmallCnn>(3, 10, g), {3, 32, 32}, kind};
  if (name == "resnet20-train" || name == "resnet20-infer")
    return {std::make_shared<nn::ResNet20>(3, 10, g), {3, 32, 32}, kind};
  if (name == "mlp-train")
    return {
        std::make_shared<nn::MLP>(std::vector<std::int64_t>{784, 256, 256, 10}, nn::Activation::Relu, g), {784}, kind};
  if (name == "mlp-small-train")
    return {std::make_shared<nn::MLP>(std::vector<std::int64_t>{784, 20, 10}, nn::Activation::Sigmoid, g), {784}, kind};
  std::string valid;
  for (const auto& n : workload_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw Error("unknown workload '" + name + "' (expected one of: " + valid + ")");
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace

const std::vector<std::string>& workload_names() {
  static const std::vector<std::string> names = {"cnn-train",      "cnn-infer",  "cnn-hvp",         "resnet20-train",
                                                 "resnet20-infer", "mlp-train",  "mlp-small-train", "l2l-mlp",
                                                 "l2l-mlp-2nd",    "l2l-mlp-pes"};
  return names;
}

namespace {

struct StepTimes {
  double median_ms, mean_ms;
};

// `steps` timed runs of `step`, after `warmup` unmeasured ones; with a
// profiler, each timed run is one of its regions.
StepTimes time_steps(const std::function<void()>& step, int steps, int warmup, profiler::Profiler* profiler) {
  for (int i = 0; i < warmup; ++i) step();
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (profiler) {
      const auto region = profiler->region();
      step();
    } else {
      step();
    }
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  double total = 0;
  for (double t : times) total += t;
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  return {times[times.size() / 2], total / static_cast<double>(times.size())};
}

WorkloadResult result_of(const std::string& name, int threads, int batch, double images_per_s, double ms, int ranks) {
  WorkloadResult r;
  r.workload = name;
  r.threads = threads;
  r.batch = batch;
  r.images_per_s = images_per_s;
  r.ms_per_step = ms;
  r.peak_rss_mb = peak_rss_mb();
  r.ranks = ranks;
  return r;
}

void add_profile(WorkloadResult& result, const profiler::Profiler* profiler, double mean_ms) {
  if (!profiler) return;
  result.mean_ms_per_step = mean_ms;
  const auto& totals = profiler->totals();
  for (std::size_t k = 0; k < profiler::kKinds; ++k)
    result.profile_ms[k] = totals.seconds[k] * 1e3 / static_cast<double>(totals.regions);
  result.profile_report = profiler->report();
}

// One meta-iteration of the learned LSTM optimizer: a 20-step unroll of the
// 784-20-10 sigmoid MLP (batch 128, a fresh batch each step) over its 15,910
// coordinates, the meta-gradient by `estimator` (truncated backprop, first
// or second order: the meta-backward; pes: the pair's two plain runs at
// phi +- eps, no graph) and an Adam step on the LSTM's weights; with a
// meta-batch of K, K such problems (pes: antithetic pairs) concurrently and
// their mean meta-gradient. Under mpirun each rank unrolls problems of its
// own and the meta-gradients are averaged over the ranks.
std::function<void()> meta_iteration(std::shared_ptr<const optim::learned::MetaGradientEstimator> estimator,
                                     int meta_batch) {
  namespace learned = optim::learned;
  auto task = std::shared_ptr<learned::Task>(learned::make_task("mlp-synthetic"));
  task->steps = task->unroll = 20;
  // Section 5.1's initialisation, as the PyTorch peer (bench/) starts.
  auto lstm = std::shared_ptr<learned::LearnedOptimizer>(
      learned::make_learned_lstm(learned::lstm_settings(task->name()), 0, DType::Float32, learned::LstmInit::Uniform));
  auto meta = std::shared_ptr<optim::Optimizer>(optim::make("adam(lr=1e-3)", lstm->meta_parameters()));
  auto problems = std::make_shared<std::vector<std::unique_ptr<learned::Problem>>>();
  for (int k = 0; k < meta_batch; ++k)
    problems->push_back(
        task->problem(learned::Split::Train, static_cast<std::uint64_t>(distributed::rank() * meta_batch + k)));
  return [=] {
    std::vector<learned::MetaBatchProblem> batch;
    for (const auto& problem : *problems) batch.push_back({problem.get(), {20, 20}});
    learned::meta_train_step(batch, *lstm, *meta, *estimator, distributed::Ranks());
  };
}

}  // namespace

WorkloadResult run_workload(const std::string& name, int threads, int batch, int steps, int warmup, bool profile,
                            int meta_batch) {
  set_num_threads(threads);
  std::optional<profiler::Profiler> profiler;
  profiler::Profiler* recording = profile ? &profiler.emplace() : nullptr;  // measures the machine now
  const int ranks = distributed::world_size();
  if (name == "l2l-mlp" || name == "l2l-mlp-2nd" || name == "l2l-mlp-pes") {
    namespace learned = optim::learned;
    std::shared_ptr<const learned::MetaGradientEstimator> estimator;
    if (name == "l2l-mlp-pes")
      estimator = std::make_shared<learned::EvolutionStrategies>();
    else
      estimator = std::make_shared<learned::TruncatedBptt>(learned::TruncatedBpttOptions{
          .mode = name == "l2l-mlp-2nd" ? learned::MetaMode::SecondOrder : learned::MetaMode::FirstOrder});
    const StepTimes t = time_steps(meta_iteration(estimator, meta_batch), steps, warmup, recording);
    const double problems_per_s = ranks * meta_batch / t.median_ms * 1e3;
    WorkloadResult result = result_of(name, threads, 128, problems_per_s * 128 * 20, t.median_ms, ranks);
    result.meta_batch = meta_batch;
    result.problems_per_s = problems_per_s;
    add_profile(result, recording, t.mean_ms);
    return result;
  }
  if (meta_batch != 1) throw Error("bench: --meta-batch is for the l2l workloads, not " + name);
  Workload w = make_workload(name);
  if (ranks > 1 && w.kind == Kind::Hvp) throw Error("bench: " + name + " runs in one process only, not under mpirun");
  if (batch % ranks != 0)
    throw Error(fmt::format("bench: the batch of {} does not split evenly over {} ranks", batch, ranks));
  const int global_batch = batch;
  batch /= ranks;  // this rank's shard
  Generator g(1 + static_cast<std::uint64_t>(distributed::rank()));
  std::optional<nn::DataParallel> parallel;
  if (ranks > 1 && w.kind == Kind::Train) parallel.emplace(*w.model);
  Shape shape{batch};
  shape.insert(shape.end(), w.input.begin(), w.input.end());
  const Tensor x = randn(shape, g);
  const Tensor labels = argmax(randn({batch, 10}, g), 1);
  auto optimizer = optim::make("sgd(lr=0.01, momentum=0.9)", w.model->named_parameters());
  w.model->train(w.kind != Kind::Infer);
  std::vector<Tensor> params, directions;
  for (const auto& p : w.model->parameters()) {
    params.push_back(p);
    directions.push_back(randn(p.shape(), g));
  }
  std::function<void()> step;
  if (w.kind == Kind::Train) {
    step = [&] {
      optimizer->zero_grad();
      nn::DataParallel::weighted(F::cross_entropy(w.model->forward(x), labels), batch, global_batch).backward();
      if (parallel) parallel->finish();
      optimizer->step();
    };
  } else if (w.kind == Kind::Infer) {
    step = [&] {
      NoGradGuard no_grad;
      w.model->forward(x);
    };
  } else {
    step = [&] {
      const auto grads = autograd::grad({F::cross_entropy(w.model->forward(x), labels)}, params,
                                        autograd::GradOptions{.create_graph = true});
      autograd::grad(grads, params, directions);
    };
  }
  for (int i = 0; i < warmup; ++i) step();
  const distributed::GradientReducer::Timing before =
      parallel ? parallel->timing() : distributed::GradientReducer::Timing{};
  const StepTimes t = time_steps(step, steps, 0, recording);
  const double ms = t.median_ms;
  WorkloadResult result = result_of(name, threads, global_batch, global_batch / ms * 1e3, ms, ranks);
  add_profile(result, recording, t.mean_ms);
  if (parallel) {  // means over the measured steps
    const auto& after = parallel->timing();
    const double passes = static_cast<double>(after.passes - before.passes);
    result.communication_ms = (after.communication_s - before.communication_s) / passes * 1e3;
    result.exposed_communication_ms = (after.exposed_s - before.exposed_s) / passes * 1e3;
  }
  return result;
}

}  // namespace mg::apps
