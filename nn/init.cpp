#include "metagrad/nn/init.hpp"

#include <cmath>
#include <vector>

#include "core/check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::nn::init {
namespace {

std::int64_t receptive_field(const Tensor& w) {
  std::int64_t size = 1;
  for (std::int64_t d = 2; d < w.dim(); ++d) size *= w.size(d);
  return size;
}

void check_weight(const Tensor& w, const char* op) {
  MG_CHECK(w.defined() && w.dim() >= 2, "{}: fan in and fan out need a weight of at least 2 dims, got {}", op,
           w.defined() ? to_string(w.shape()) : "undefined");
}

double fan(const Tensor& t, FanMode mode) {
  return static_cast<double>(mode == FanMode::FanIn ? fan_in(t) : fan_out(t));
}

}  // namespace

std::int64_t fan_in(const Tensor& w) {
  check_weight(w, "fan_in");
  return w.size(1) * receptive_field(w);
}

std::int64_t fan_out(const Tensor& w) {
  check_weight(w, "fan_out");
  return w.size(0) * receptive_field(w);
}

Tensor& uniform_(Tensor& t, double low, double high, Generator& generator) {
  NoGradGuard no_grad;
  return t.copy_(rand(t.shape(), generator, t.dtype()) * (high - low) + low);
}

Tensor& normal_(Tensor& t, double mean, double std, Generator& generator) {
  NoGradGuard no_grad;
  return t.copy_(randn(t.shape(), generator, t.dtype()) * std + mean);
}

Tensor& truncated_normal_(Tensor& t, double std, Generator& generator) {
  NoGradGuard no_grad;
  const std::int64_t count = t.numel();
  std::vector<double> values;
  for (double z : randn({4 * count}, generator, DType::Float64).to_vector<double>())
    if (static_cast<std::int64_t>(values.size()) < count && std::abs(z) <= 2) values.push_back(z * std);
  MG_CHECK(static_cast<std::int64_t>(values.size()) == count,
           "truncated_normal_: too few draws within 2 standard deviations");  // p < 1e-300
  return t.copy_(Tensor::from_vector(values, t.shape()).to(t.dtype()));
}

Tensor& constant_(Tensor& t, double value) {
  NoGradGuard no_grad;
  return t.fill_(value);
}
Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }

Tensor& kaiming_uniform_(Tensor& t, double a, FanMode mode, Generator& generator) {
  const double std = std::sqrt(2.0 / (1.0 + a * a)) / std::sqrt(fan(t, mode));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(t, -bound, bound, generator);
}

Tensor& kaiming_normal_(Tensor& t, double a, FanMode mode, Generator& generator) {
  return normal_(t, 0.0, std::sqrt(2.0 / (1.0 + a * a)) / std::sqrt(fan(t, mode)), generator);
}

Tensor& xavier_uniform_(Tensor& t, double gain, Generator& generator) {
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in(t) + fan_out(t)));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(t, -bound, bound, generator);
}

Tensor& xavier_normal_(Tensor& t, double gain, Generator& generator) {
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in(t) + fan_out(t))), generator);
}

}  // namespace mg::nn::init
