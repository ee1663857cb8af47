#include "workloads.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>

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
    return {std::make_shared<nn::MLP>(std::vector<std::int64_t>{784, 256, 256, 10}, "relu", g), {784}, kind};
  if (name == "mlp-small-train")
    return {std::make_shared<nn::MLP>(std::vector<std::int64_t>{784, 20, 10}, "sigmoid", g), {784}, kind};
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
  static const std::vector<std::string> names = {"cnn-train",       "cnn-infer",      "cnn-hvp",
                                                 "resnet20-train",  "resnet20-infer", "mlp-train",
                                                 "mlp-small-train", "l2l-mlp",        "l2l-mlp-2nd"};
  return names;
}

namespace {

// The median milliseconds of `steps` runs of `step`, after `warmup` unmeasured ones.
double median_ms(const std::function<void()>& step, int steps, int warmup) {
  for (int i = 0; i < warmup; ++i) step();
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

// One meta-iteration of the learned LSTM optimizer: a 20-step unroll of the
// 784-20-10 sigmoid MLP (batch 128, a fresh batch each step) over its 15,910
// coordinates, the meta-backward (first or second order) and an Adam step on
// the LSTM's weights.
std::function<void()> meta_iteration(bool second_order) {
  auto task = std::shared_ptr<optim::learned::Task>(optim::learned::make_task("mlp-synthetic"));
  task->steps = task->unroll = 20;
  auto learned = std::shared_ptr<optim::learned::LearnedOptimizer>(optim::learned::make_learned_lstm(*task, 0));
  auto meta = std::shared_ptr<optim::Optimizer>(optim::make("adam(lr=1e-3)", learned->meta_parameters()));
  auto problem = std::shared_ptr<optim::learned::Problem>(task->problem(optim::learned::Split::Train, 0));
  const optim::learned::TruncatedBptt estimator(
      second_order ? optim::learned::MetaMode::SecondOrder : optim::learned::MetaMode::FirstOrder, 20, 20);
  return [=] {
    estimator.run(*problem, *learned, [&](const optim::learned::TruncatedBptt::Unroll& unroll) {
      auto& phi = learned->meta_parameters();
      for (std::size_t i = 0; i < phi.size(); ++i) phi[i].second.set_grad(unroll.meta_gradients[i]);
      meta->step();
    });
  };
}

}  // namespace

WorkloadResult run_workload(const std::string& name, int threads, int batch, int steps, int warmup) {
  set_num_threads(threads);
  if (name == "l2l-mlp" || name == "l2l-mlp-2nd") {
    const double ms = median_ms(meta_iteration(name == "l2l-mlp-2nd"), steps, warmup);
    return {name, threads, 128, 128 * 20 / ms * 1e3, ms, peak_rss_mb()};
  }
  Workload w = make_workload(name);
  Generator g(1);
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
      F::cross_entropy(w.model->forward(x), labels).backward();
      optimizer->step();
    };
  } else if (w.kind == Kind::Infer) {
    step = [&] {
      NoGradGuard no_grad;
      w.model->forward(x);
    };
  } else {
    step = [&] {
      const auto grads =
          autograd::grad({F::cross_entropy(w.model->forward(x), labels)}, params, {}, false, /*create_graph=*/true);
      autograd::grad(grads, params, directions);
    };
  }
  const double ms = median_ms(step, steps, warmup);
  return {name, threads, batch, batch / ms * 1e3, ms, peak_rss_mb()};
}

}  // namespace mg::apps
