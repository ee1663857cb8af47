// The convolutional image problems of the task family and the held-out
// suite: the small CNN and ResNet-20.
#include <cmath>

#include "core/check.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/nn/models.hpp"
#include "optim/learned/image_problem.hpp"

namespace mg::optim::learned {

namespace F = nn::functional;

Tensor default_init(const Shape& shape, std::int64_t fan_in, Generator& g, DType dtype) {
  const double bound = 1 / std::sqrt(static_cast<double>(fan_in));
  return rand(shape, g, dtype) * (2 * bound) - bound;
}

NamedParameters SmallCnnProblem::initial() const {
  Generator g(seed_);
  NamedParameters params;
  const std::int64_t channels = layout_.channels;
  std::int64_t in = layout_.in_channels;
  for (int l = 1; l <= 2; ++l) {
    const std::string n = std::to_string(l);
    params.emplace_back("conv" + n + ".weight", default_init({channels, in, 3, 3}, in * 9, g, dtype_));
    if (layout_.batch_norm) {
      params.emplace_back("bn" + n + ".weight", ones({channels}, dtype_));
      params.emplace_back("bn" + n + ".bias", zeros({channels}, dtype_));
    } else {
      params.emplace_back("conv" + n + ".bias", default_init({channels}, in * 9, g, dtype_));
    }
    in = channels;
  }
  const std::int64_t side = layout_.side / 4, features = channels * side * side;
  params.emplace_back("fc.weight", default_init({10, features}, features, g, dtype_));
  params.emplace_back("fc.bias", default_init({10}, features, g, dtype_));
  return params;
}

Tensor SmallCnnProblem::logits(const std::vector<Tensor>& p, Tensor h) const {
  h = h.reshape({h.size(0), layout_.in_channels, layout_.side, layout_.side});
  std::size_t i = 0;
  for (int l = 0; l < 2; ++l) {
    if (layout_.batch_norm) {
      h = F::conv2d(h, p[i], Tensor(), 1, 1);
      h = F::batch_norm(h, {.weight = p[i + 1], .bias = p[i + 2], .training = true});
      i += 3;
    } else {
      h = F::conv2d(h, p[i], p[i + 1], 1, 1);
      i += 2;
    }
    h = F::max_pool2d(relu(h), 2);
  }
  return F::linear(h.flatten(1), p[i], p[i + 1]);
}

ResNetProblem::ResNetProblem(std::uint64_t seed, std::int64_t batch, std::shared_ptr<const Images> images,
                             ImagesLoader test_images, DType dtype)
    : ImageProblem(seed, std::move(images), std::move(test_images), dtype, batch),
      network_([](Generator& g) { return std::make_shared<nn::ResNet20>(3, 10, g); }) {
  MG_CHECK(dtype == DType::Float32, "ResNet-20 problems are float32, not {}", dtype_name(dtype));
}

NamedParameters ResNetProblem::initial() const { return network_.initial(seed_); }

Tensor ResNetProblem::logits(const std::vector<Tensor>& params, Tensor inputs) const {
  return network_(params, inputs.reshape({inputs.size(0), 3, 32, 32}));
}

}  // namespace mg::optim::learned
