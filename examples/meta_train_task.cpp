// Tutorial 4 (docs/tutorials/04-meta-train-your-task.md): a task family of
// our own, the LSTM learned optimizer meta-trained on it, and the result
// against SGD on test problems it has never seen. Exits 1 if the learned
// optimizer does not beat SGD with its learning rate tuned.
//
// The family: least squares, mean((X w - y)^2), with X (20 x 10) and y drawn
// from a problem's seed and X scaled by a random factor, so that the
// problems' curvatures span a factor of 100. No one learning rate suits them
// all: SGD's must be small enough for the steepest problem. A learned
// optimizer can adapt its steps to each.
#include <metagrad/metagrad.hpp>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using mg::Tensor;
namespace learned = mg::optim::learned;

constexpr std::int64_t kRows = 20, kColumns = 10;

class LeastSquares : public learned::Problem {
 public:
  explicit LeastSquares(std::uint64_t seed) {
    mg::Generator g(seed);
    const double scale = 0.3 * std::pow(10.0, mg::rand({}, g).item<double>());  // log-uniform in [0.3, 3]
    x_ = mg::randn({kRows, kColumns}, g) * scale;
    y_ = mg::randn({kRows, 1}, g);
  }
  mg::optim::NamedParameters initial() const override { return {{"w", mg::zeros({kColumns, 1})}}; }
  // The same loss at every step: the whole data set is the batch.
  Tensor loss(const std::vector<Tensor>& params, std::int64_t /*step*/) const override {
    const Tensor residual = mg::matmul(x_, params[0]) - y_;
    return mg::mean(residual * residual);
  }
  // The loss at the exact solution w = (X^T X)^-1 X^T y, to see how far an
  // optimizer is from the best it could do.
  double minimum_loss() const {
    const Tensor x = x_.to(mg::DType::Float64), y = y_.to(mg::DType::Float64);
    const auto [values, vectors] = mg::eigh(mg::matmul(x.t(), x));
    const Tensor w = mg::matmul(vectors, mg::matmul(vectors.t(), mg::matmul(x.t(), y)) / values.reshape({-1, 1}));
    const Tensor residual = mg::matmul(x, w) - y;
    return mg::mean(residual * residual).item<double>();
  }

 private:
  Tensor x_, y_;
};

class LeastSquaresTask : public learned::Task {
 public:
  LeastSquaresTask() {
    steps = 20;  // optimizer steps per problem, in meta-training and in the tests below
    unroll = 5;  // steps per truncated unroll: one meta-update each
  }
  std::string name() const override { return "least-squares"; }
  std::unique_ptr<learned::Problem> problem(learned::Split split, std::uint64_t index) const override {
    return least_squares(split, index);
  }
  // Seeds 4 i + split: the splits never share a problem.
  std::unique_ptr<LeastSquares> least_squares(learned::Split split, std::uint64_t index) const {
    return std::make_unique<LeastSquares>(4 * index + static_cast<std::uint64_t>(split));
  }
};

// A fresh folder for meta-training's files, removed with everything in it.
class TemporaryFolder {
 public:
  TemporaryFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "meta_train_task-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw mg::Error("cannot create a folder like " + pattern);
    path_ = pattern;
  }
  ~TemporaryFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes the best meta-parameters to out_dir/optimizer.json.
void meta_train(const learned::Task& task, const std::string& out_dir) {
  learned::MetaTrainOptions options;
  options.epochs = 300;
  options.meta_batch = 2;  // two fresh problems an epoch, run concurrently
  options.meta_optimizer = "adam(lr=3e-3)";
  options.eval_every = 50;
  options.validation_problems = 16;
  options.out_dir = out_dir;
  auto lstm = learned::make_learned("lstm", task, /*seed=*/0);
  const std::atomic<bool> never_stop = false;
  const auto result = learned::meta_train(task, *lstm, learned::TruncatedBptt(), options, never_stop);
  std::printf("meta-trained %lld epochs: best validation loss %.4f (epoch %lld)\n",
              static_cast<long long>(result.epochs_done), result.best_validation,
              static_cast<long long>(result.best_epoch));
}

struct Contender {
  std::string name;
  learned::OptimizerFactory make;
};

// The baseline at its best: the grid's learning rate with the lowest mean
// final loss on validation problems.
Contender tuned(const learned::Task& task, const std::string& spec_template) {
  const double lr = learned::tune_lr(task, spec_template, /*problems=*/16, task.steps).best;
  return {mg::optim::with_value(spec_template, lr), learned::spec_factory(spec_template, lr)};
}

double mean_at(const std::vector<std::vector<double>>& curves, std::size_t step) {
  double total = 0;
  for (const auto& curve : curves) total += curve[step];
  return total / static_cast<double>(curves.size());
}

}  // namespace

int main() {
  try {
    const LeastSquaresTask task;
    const TemporaryFolder out_dir;
    meta_train(task, out_dir.path());

    constexpr std::int64_t kTestProblems = 50;
    double best_possible = 0;
    for (std::int64_t i = 0; i < kTestProblems; ++i)
      best_possible += task.least_squares(learned::Split::Test, static_cast<std::uint64_t>(i))->minimum_loss();
    best_possible /= kTestProblems;

    const std::vector<Contender> contenders = {
        {"lstm (meta-trained)", learned::load_learned(out_dir.path() + "/optimizer.json", task)},
        tuned(task, "sgd(lr={})"),
        tuned(task, "adam(lr={})")};
    std::printf("\nmean loss over %lld test problems (the exact least-squares minimum: %.4f)\n",
                static_cast<long long>(kTestProblems), best_possible);
    const std::vector<std::size_t> shown_steps = {0, 5, 10, static_cast<std::size_t>(task.steps)};
    std::printf("%-20s", "optimizer");
    for (std::size_t step : shown_steps) std::printf("  %8s", ("step " + std::to_string(step)).c_str());
    std::printf("\n");
    std::vector<std::vector<std::vector<double>>> curves;
    for (const auto& contender : contenders) {
      curves.push_back(learned::loss_curves(task, contender.make, learned::Split::Test, kTestProblems, task.steps));
      std::printf("%-20s", contender.name.c_str());
      for (std::size_t step : shown_steps) std::printf("  %8.4f", mean_at(curves.back(), step));
      std::printf("\n");
    }

    const auto& lstm = curves[0];
    const auto& sgd = curves[1];
    int wins = 0;
    for (std::size_t i = 0; i < lstm.size(); ++i) wins += lstm[i].back() < sgd[i].back();
    std::printf("\nthe learned optimizer ends lower than %s on %d of %lld test problems\n", contenders[1].name.c_str(),
                wins, static_cast<long long>(kTestProblems));
    if (mean_at(lstm, shown_steps.back()) >= mean_at(sgd, shown_steps.back())) {
      std::printf("FAILED: the learned optimizer does not beat SGD on average\n");
      return 1;
    }
  } catch (const mg::Error& e) {
    std::fprintf(stderr, "meta_train_task: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
