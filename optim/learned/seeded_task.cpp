#include "optim/learned/seeded_task.hpp"

#include <cmath>

#include "metagrad/core/generator.hpp"
#include "metagrad/core/linalg.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::optim::learned {
namespace {

class RotatedQuadratic : public Problem {
 public:
  RotatedQuadratic(Tensor a, Tensor optimum, std::uint64_t seed, DType dtype)
      : a_(std::move(a)), optimum_(std::move(optimum)) {
    Generator g(seed);
    x0_ = randn({optimum_.numel()}, g, dtype);
    const Tensor r = x0_ - optimum_;
    scale_ = 1 / (0.5 * sum(r * matmul(a_, r.reshape({-1, 1})).reshape({-1})).item<double>());
  }
  NamedParameters initial() const override { return {{"x", x0_.clone()}}; }
  Tensor loss(const std::vector<Tensor>& params, std::int64_t) const override {
    const Tensor r = params[0] - optimum_;
    return sum(r * matmul(a_, r.reshape({-1, 1})).reshape({-1})) * (0.5 * scale_);
  }

 private:
  Tensor a_, optimum_, x0_;
  double scale_ = 1;
};

}  // namespace

std::uint64_t split_seed(std::uint64_t task_seed, Split split, std::uint64_t index) {
  return splitmix64(splitmix64(task_seed ^ (static_cast<std::uint64_t>(split) + 1)) + index);
}

std::unique_ptr<Task> seeded_task(std::string name, std::uint64_t seed, Horizon horizon, SeededMaker make) {
  return make_task(std::move(name), horizon, [seed, make = std::move(make)](Split split, std::uint64_t index) {
    return make(split_seed(seed, split, index));
  });
}

std::unique_ptr<Task> rotated_quadratic_task(std::string name, std::int64_t dimension, double condition,
                                             std::uint64_t seed, Horizon horizon, DType dtype) {
  Generator g(seed);
  const Tensor gaussian = randn({dimension, dimension}, g, DType::Float64);
  const Tensor rotation = eigh(gaussian + gaussian.t()).vectors;
  std::vector<double> spectrum(static_cast<std::size_t>(dimension));
  for (std::int64_t i = 0; i < dimension; ++i)
    spectrum[static_cast<std::size_t>(i)] =
        std::pow(condition, dimension > 1 ? static_cast<double>(i) / static_cast<double>(dimension - 1) : 0.0);
  const Tensor a = matmul(rotation * Tensor::from_vector(spectrum, {1, dimension}), rotation.t()).to(dtype);
  const Tensor optimum = randn({dimension}, g, dtype);
  return seeded_task(std::move(name), seed, horizon, [=](std::uint64_t problem_seed) {
    return std::make_unique<RotatedQuadratic>(a, optimum, problem_seed, dtype);
  });
}

}  // namespace mg::optim::learned
