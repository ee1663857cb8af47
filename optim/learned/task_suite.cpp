// The held-out suite of issue 31 (task_suite.hpp).
#include "metagrad/optim/learned/task_suite.hpp"

#include <functional>

#include "core/check.hpp"
#include "metagrad/data/fetch.hpp"
#include "optim/learned/image_problem.hpp"
#include "optim/learned/seeded_task.hpp"
#include "optim/learned/text_problem.hpp"

namespace mg::optim::learned {
namespace {

using nn::Activation;
constexpr DType kFloat = DType::Float32;

using TaskMaker =
    std::function<std::unique_ptr<Task>(const SuiteOptions&, const std::string& name, std::uint64_t seed, Horizon)>;

struct Entry {
  SuiteTask info;
  TaskMaker make;
};

// A problem from a seed and its dataset's training images and test-image loader.
using ImageProblemMaker =
    std::function<std::unique_ptr<Problem>(std::uint64_t seed, std::shared_ptr<const Images>, ImagesLoader)>;

// A task on "fashion-mnist" or "cifar10" whose problems `make` builds; the
// dataset is located and read when a problem is made, not when the task is
// named.
TaskMaker on_images(std::string dataset, ImageProblemMaker make) {
  return [dataset, make](const SuiteOptions& o, const std::string& name, std::uint64_t seed, Horizon horizon) {
    const std::string given = dataset == "cifar10" ? o.cifar_dir : o.fashion_dir;
    return seeded_task(name, seed, horizon, [=](std::uint64_t problem_seed) {
      std::string dir;
      try {
        dir = data::locate_dataset(dataset, given);
      } catch (const Error& e) {
        throw Error(fmt::format("held-out task {}: {}", name, e.what()));
      }
      return make(problem_seed, load_images(dataset, dir, kFloat),
                  [dataset, dir] { return load_images(dataset, dir, kFloat, false); });
    });
  };
}

TaskMaker mlp(std::string dataset, std::vector<std::int64_t> widths, Activation activation, std::int64_t batch) {
  return on_images(std::move(dataset),
                   [=](std::uint64_t seed, std::shared_ptr<const Images> images, ImagesLoader test) {
                     return std::make_unique<MlpProblem>(seed, widths, activation, default_init, batch,
                                                         std::move(images), std::move(test), kFloat);
                   });
}

std::vector<Entry> heldout_entries() {
  const auto fashion_mlp = [](std::vector<std::int64_t> hidden, Activation activation, std::int64_t batch) {
    std::vector<std::int64_t> widths = {784};
    widths.insert(widths.end(), hidden.begin(), hidden.end());
    widths.push_back(10);
    return mlp("fashion-mnist", widths, activation, batch);
  };
  return {
      {{"mlp-512-relu", "Fashion-MNIST MLP 784-512-10, relu, batch 128 (wider than any training MLP)", 1000},
       fashion_mlp({512}, Activation::Relu, 128)},
      {{"mlp-1024-tanh", "Fashion-MNIST MLP 784-1024-10, tanh, batch 128", 500},
       fashion_mlp({1024}, Activation::Tanh, 128)},
      {{"mlp-depth3-relu", "Fashion-MNIST MLP with 3 hidden layers of 128, relu, batch 128", 1000},
       fashion_mlp({128, 128, 128}, Activation::Relu, 128)},
      {{"mlp-depth4-gelu", "Fashion-MNIST MLP with 4 hidden layers of 64, GELU, batch 128", 1000},
       fashion_mlp({64, 64, 64, 64}, Activation::Gelu, 128)},
      {{"mlp-256-gelu", "Fashion-MNIST MLP 784-256-10, GELU (never seen in training), batch 64", 1000},
       fashion_mlp({256}, Activation::Gelu, 64)},
      {{"mlp-batch16", "Fashion-MNIST MLP 784-64-10, relu, batch 16", 2000}, fashion_mlp({64}, Activation::Relu, 16)},
      {{"mlp-batch512", "Fashion-MNIST MLP 784-128-10, sigmoid, batch 512", 500},
       fashion_mlp({128}, Activation::Sigmoid, 512)},
      {{"mlp-cifar10", "CIFAR-10 MLP 3072-256-10, relu, batch 128", 1000},
       mlp("cifar10", {3072, 256, 10}, Activation::Relu, 128)},
      {{"cnn-fashion-mnist", "Fashion-MNIST CNN: two 3x3 convolutions of 24 channels with batch norm, batch 64", 1000},
       on_images("fashion-mnist",
                 [](std::uint64_t seed, std::shared_ptr<const Images> images, ImagesLoader test) {
                   return std::make_unique<SmallCnnProblem>(seed, SmallCnnProblem::Layout{1, 28, 24, true}, 64,
                                                            std::move(images), std::move(test), kFloat);
                 })},
      {{"resnet20-cifar10", "ResNet-20 on CIFAR-10, batch 32", 200},
       on_images("cifar10",
                 [](std::uint64_t seed, std::shared_ptr<const Images> images, ImagesLoader test) {
                   return std::make_unique<ResNetProblem>(seed, 32, std::move(images), std::move(test), kFloat);
                 })},
      {{"char-lstm",
        "character-level LSTM language model (embedding 32, LSTM 64) on Debian's licence texts, batch 32 "
        "windows of 32 characters",
        1000},
       [](const SuiteOptions& o, const std::string& name, std::uint64_t seed, Horizon horizon) {
         const std::string dir = o.text_dir;
         return seeded_task(name, seed, horizon, [dir](std::uint64_t problem_seed) {
           return std::make_unique<CharLmProblem>(problem_seed, load_text(dir), 32, CharLmShape{}, kFloat);
         });
       }},
      {{"mlp-long-5000", "Fashion-MNIST MLP 784-32-10, tanh, batch 32, 5000 steps", 5000},
       fashion_mlp({32}, Activation::Tanh, 32)},
      {{"mlp-long-10000", "Fashion-MNIST MLP 784-16-10, sigmoid, batch 16, 10000 steps", 10000},
       fashion_mlp({16}, Activation::Sigmoid, 16)},
      {{"quadratic-1e6", "rotated quadratic in 200 dimensions with condition number 1e6", 2000},
       [](const SuiteOptions&, const std::string& name, std::uint64_t seed, Horizon horizon) {
         return rotated_quadratic_task(name, 200, 1e6, seed, horizon, kFloat);
       }},
  };
}

const std::vector<Entry>& heldout() {
  static const std::vector<Entry> entries = heldout_entries();
  return entries;
}

}  // namespace

std::vector<std::string> available_suites() { return {"heldout"}; }

const std::vector<SuiteTask>& suite_tasks(const std::string& suite) {
  MG_CHECK(suite == "heldout", "unknown task suite '{}'; available: heldout", suite);
  static const std::vector<SuiteTask> tasks = [] {
    std::vector<SuiteTask> out;
    for (const auto& entry : heldout()) out.push_back(entry.info);
    return out;
  }();
  return tasks;
}

std::unique_ptr<Task> make_suite_task(const std::string& suite, const std::string& name, const SuiteOptions& options) {
  suite_tasks(suite);  // checks the suite's name
  const auto& entries = heldout();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& entry = entries[i];
    if (entry.info.name != name) continue;
    const std::uint64_t seed = 31000 + i;  // each task's own problems
    return entry.make(options, name, seed, Horizon{entry.info.steps, 20});
  }
  std::string names;
  for (const auto& entry : entries) names += (names.empty() ? "" : ", ") + entry.info.name;
  throw Error(fmt::format("suite {} has no task '{}'; its tasks: {}", suite, name, names));
}

}  // namespace mg::optim::learned
