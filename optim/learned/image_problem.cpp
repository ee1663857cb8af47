// Image datasets as tensors for the tasks: loading (cached), mini-batches
// and evaluation.
#include "optim/learned/image_problem.hpp"

#include <map>
#include <mutex>

#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/data/dataset.hpp"
#include "metagrad/nn/functional.hpp"

namespace mg::optim::learned {

namespace F = nn::functional;

std::uint64_t validation_stream(std::uint64_t seed) { return splitmix64(seed ^ 0x76616c6964ULL); }

Generator batch_generator(std::uint64_t seed, std::int64_t step) {
  return Generator(splitmix64(seed ^ splitmix64(static_cast<std::uint64_t>(step) + 1)));
}

std::shared_ptr<const Images> load_images(const std::string& kind, const std::string& dir, DType dtype, bool train) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Images>> cache;
  const std::string key = kind + "|" + dir + "|" + std::string(dtype_name(dtype)) + (train ? "|train" : "|test");
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto images = std::make_shared<Images>();
  if (kind == "synthetic") {  // 4096 random N(0, 1) "images" and labels: benchmarks and tests without a dataset
    Generator g(train ? 20161 : 20162);
    const std::int64_t count = train ? 4096 : 1024;
    images->inputs = randn({count, 784}, g, dtype);
    images->labels = (rand({count}, g, DType::Float64) * 10.0).to(DType::Int64);
    cache[key] = images;
    return images;
  }
  const auto dataset =
      kind == "fashion-mnist" ? data::mnist_like(dir, train, "fashion-mnist") : data::cifar10(dir, train);
  std::vector<Tensor> inputs;
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < dataset->size(); ++i) {
    const data::Example example = dataset->get(i);
    inputs.push_back(example.input);
    labels.push_back(example.label);
  }
  images->inputs = stack(inputs, 0).to(dtype);  // the readers give [0, 1]: pixels / 255
  images->labels = Tensor::from_vector(labels, {static_cast<std::int64_t>(labels.size())});
  cache[key] = images;
  return images;
}

std::pair<Tensor, Tensor> sample_batch(const Images& images, std::uint64_t seed, std::int64_t step,
                                       std::int64_t batch_size) {
  Generator g = batch_generator(seed, step);
  const auto n = static_cast<double>(images.labels.numel());
  const Tensor index = (rand({batch_size}, g, DType::Float64) * n).to(DType::Int64);
  return {index_select(images.inputs, 0, index), index_select(images.labels, 0, index)};
}

Evaluation evaluate_on(const Images& images, const std::function<Tensor(const Tensor&)>& logits) {
  NoGradGuard no_grad;
  const std::int64_t n = images.labels.numel(), chunk = 500;
  double loss = 0, correct = 0;
  for (std::int64_t begin = 0; begin < n; begin += chunk) {
    const std::int64_t size = std::min(chunk, n - begin);
    const Tensor scores = logits(images.inputs.narrow(0, begin, size));
    const Tensor labels = images.labels.narrow(0, begin, size);
    loss += F::cross_entropy(scores, labels).item<double>() * static_cast<double>(size);
    correct += sum(eq(argmax(scores, 1), labels)).item<double>();
  }
  return {loss / static_cast<double>(n), correct / static_cast<double>(n)};
}

NamedParameters MlpProblem::initial() const {
  Generator g(seed_);
  NamedParameters params;
  for (std::size_t l = 0; l + 1 < widths_.size(); ++l) {
    const std::string layer = "fc" + std::to_string(l + 1);
    params.emplace_back(layer + ".weight", init_({widths_[l + 1], widths_[l]}, widths_[l], g, dtype_));
    params.emplace_back(layer + ".bias", init_({widths_[l + 1]}, widths_[l], g, dtype_));
  }
  return params;
}

Tensor MlpProblem::logits(const std::vector<Tensor>& params, Tensor inputs) const {
  Tensor h = inputs.reshape({inputs.size(0), widths_.front()});
  for (std::size_t l = 0; 2 * l < params.size(); ++l) {
    h = F::linear(h, params[2 * l], params[2 * l + 1]);
    if (2 * l + 2 < params.size()) h = nn::activate(activation_, h);
  }
  return h;
}

}  // namespace mg::optim::learned
