#pragma once
// Initialisation in place (under no-grad), drawing from the given generator
// (the global one when omitted). fan_in/fan_out follow PyTorch: for a weight
// (out, in, k...) fan_in = in * prod(k), fan_out = out * prod(k).
#include "metagrad/core/generator.hpp"
#include "metagrad/core/tensor.hpp"

namespace mg::nn::init {

enum class FanMode { FanIn, FanOut };

Tensor& uniform_(Tensor& t, double low, double high, Generator& generator = default_generator());
Tensor& normal_(Tensor& t, double mean, double std, Generator& generator = default_generator());
// A normal truncated at two standard deviations, as TensorFlow's
// truncated_normal: the first of 4 * numel float64 draws that lie within.
Tensor& truncated_normal_(Tensor& t, double std, Generator& generator = default_generator());
Tensor& constant_(Tensor& t, double value);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
// He et al.: std = gain / sqrt(fan); gain = sqrt(2 / (1 + a^2)) (leaky ReLU slope a).
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                         Generator& generator = default_generator());
Tensor& kaiming_normal_(Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                        Generator& generator = default_generator());
// Glorot & Bengio: std = gain * sqrt(2 / (fan_in + fan_out)).
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0, Generator& generator = default_generator());
Tensor& xavier_normal_(Tensor& t, double gain = 1.0, Generator& generator = default_generator());

std::int64_t fan_in(const Tensor& weight);
std::int64_t fan_out(const Tensor& weight);

}  // namespace mg::nn::init
