#include "batch_norm.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "../dispatch.hpp"
#include "../parallel.hpp"
#include "../profiling.hpp"

namespace mg::kernels {
namespace {

// Rows are reduced in fixed chunks whose partial sums are added in order,
// so results do not depend on the thread count.
constexpr std::int64_t kRowsPerChunk = 256;

std::int64_t rows(const Tensor& x) { return x.numel() / x.size(1); }

// Per-channel sums over rows of f(row pointer, channel) pairs: out_a[c] = sum
// of a, out_b[c] = sum of b, accumulated in double.
template <class F>
void channel_sums(std::int64_t m, std::int64_t channels, std::vector<double>& out_a, std::vector<double>& out_b,
                  const F& accumulate_row) {
  const std::int64_t chunks = (m + kRowsPerChunk - 1) / kRowsPerChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks * channels * 2), 0.0);
  parallel_for(0, chunks, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t chunk = lo; chunk < hi; ++chunk) {
      double* a = partial.data() + chunk * channels * 2;
      double* b = a + channels;
      for (std::int64_t r = chunk * kRowsPerChunk; r < std::min(m, (chunk + 1) * kRowsPerChunk); ++r)
        accumulate_row(r, a, b);
    }
  });
  out_a.assign(static_cast<std::size_t>(channels), 0.0);
  out_b.assign(static_cast<std::size_t>(channels), 0.0);
  for (std::int64_t chunk = 0; chunk < chunks; ++chunk)
    for (std::int64_t c = 0; c < channels; ++c) {
      out_a[static_cast<std::size_t>(c)] += partial[static_cast<std::size_t>(chunk * channels * 2 + c)];
      out_b[static_cast<std::size_t>(c)] += partial[static_cast<std::size_t>(chunk * channels * 2 + channels + c)];
    }
}

// Sums a and b (per channel) and the row count m over processes: returns m's total.
double sum_over_processes(const SumOverProcesses* over_processes, std::vector<double>& a, std::vector<double>& b,
                          std::int64_t m) {
  if (!over_processes) return static_cast<double>(m);
  std::vector<double> all(a);
  all.insert(all.end(), b.begin(), b.end());
  all.push_back(static_cast<double>(m));
  (*over_processes)(all);
  std::copy(all.begin(), all.begin() + static_cast<long>(a.size()), a.begin());
  std::copy(all.begin() + static_cast<long>(a.size()), all.end() - 1, b.begin());
  return all.back();
}

// Calls f with std::integral_constant<bool, a> and <bool, b>, so that each
// combination of a pass's options compiles into its own loop.
template <class F>
void with_flags(bool a, bool b, const F& f) {
  using Yes = std::true_type;
  using No = std::false_type;
  if (a) {
    b ? f(Yes{}, Yes{}) : f(Yes{}, No{});
  } else {
    b ? f(No{}, Yes{}) : f(No{}, No{});
  }
}

// The gradient that reaches the normalisation: after a ReLU, only where its output y is positive.
// Both loads are unconditional, so that the loops vectorise.
template <bool relu, class T>
T incoming(const T* g, const T* y, std::int64_t i) {
  const T gi = g[i];
  if constexpr (relu) return y[i] > 0 ? gi : T(0);
  return gi;
}

template <class T>
std::vector<T> values_or(const Tensor& t, std::int64_t n, T fallback) {
  if (!t.defined()) return std::vector<T>(static_cast<std::size_t>(n), fallback);
  return t.to_vector<T>();
}

}  // namespace

bool batch_norm_fusable(const Tensor& x) {
  return (x.dim() == 4 && x.is_channels_last()) || (x.dim() == 2 && x.is_contiguous());
}

void batch_norm_statistics(const Tensor& x, double eps, Tensor& mean, Tensor& invstd,
                           const SumOverProcesses* over_processes) {
  const profiler::Scope scope(profiler::Kind::BatchNorm, 0, profiler::bytes_of(x));
  const std::int64_t m = rows(x), channels = x.size(1);
  std::vector<double> sum, sum_squares;
  MG_DISPATCH_FLOATING(x.dtype(), [&] {
    const scalar_t* data = x.data_ptr<scalar_t>();
    channel_sums(m, channels, sum, sum_squares, [&](std::int64_t r, double* a, double* b) {
      const scalar_t* row = data + r * channels;
      for (std::int64_t c = 0; c < channels; ++c) {
        const double v = row[c];
        a[c] += v;
        b[c] += v * v;
      }
    });
  });
  const double count = sum_over_processes(over_processes, sum, sum_squares, m);
  std::vector<double> mu(static_cast<std::size_t>(channels)), inv(static_cast<std::size_t>(channels));
  for (std::size_t c = 0; c < mu.size(); ++c) {
    mu[c] = sum[c] / count;
    const double var = std::max(sum_squares[c] / count - mu[c] * mu[c], 0.0);
    inv[c] = 1.0 / std::sqrt(var + eps);
  }
  mean = Tensor::from_vector(mu, {channels}).to(x.dtype());
  invstd = Tensor::from_vector(inv, {channels}).to(x.dtype());
}

void batch_norm_normalize(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                          const Tensor& bias, Tensor& y, const BatchNormEpilogue& then) {
  const profiler::Scope scope(profiler::Kind::BatchNorm, 0, profiler::bytes_of(x, y, then.residual));
  const std::int64_t m = rows(x), channels = x.size(1);
  MG_DISPATCH_FLOATING(x.dtype(), [&] {
    const auto mu = mean.to_vector<scalar_t>(), inv = invstd.to_vector<scalar_t>();
    const auto w = values_or<scalar_t>(weight, channels, 1), b = values_or<scalar_t>(bias, channels, 0);
    std::vector<scalar_t> scale(static_cast<std::size_t>(channels)), shift(static_cast<std::size_t>(channels));
    for (std::size_t c = 0; c < scale.size(); ++c) {
      scale[c] = inv[c] * w[c];
      shift[c] = b[c] - mu[c] * scale[c];
    }
    const scalar_t* in = x.data_ptr<scalar_t>();
    const scalar_t* residual = then.residual.defined() ? then.residual.data_ptr<scalar_t>() : nullptr;
    scalar_t* out = y.data_ptr<scalar_t>();
    const auto pass = [&](auto with_residual, auto relu) {
      parallel_for(0, m, std::max<std::int64_t>(1, kElementwiseGrain / channels),
                   [&](std::int64_t lo, std::int64_t hi) {
                     for (std::int64_t r = lo; r < hi; ++r)
                       for (std::int64_t c = 0; c < channels; ++c) {
                         const std::int64_t i = r * channels + c;
                         scalar_t v = in[i] * scale[static_cast<std::size_t>(c)] + shift[static_cast<std::size_t>(c)];
                         if constexpr (with_residual) v += residual[i];
                         if constexpr (relu) v = v > 0 ? v : scalar_t(0);
                         out[i] = v;
                       }
                   });
    };
    with_flags(residual != nullptr, then.relu, pass);
  });
}

void batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& weight, Tensor& gx, Tensor& grad_weight, Tensor& grad_bias,
                         const SumOverProcesses* over_processes, const Tensor& relu_output, Tensor* grad_residual) {
  // Two passes over grad and x (and the ReLU's output), one write of gx (and grad_residual).
  const bool residual = grad_residual != nullptr && grad_residual->defined();
  const profiler::Scope scope(profiler::Kind::BatchNorm, 0,
                              2 * profiler::bytes_of(grad, x, relu_output) + profiler::bytes_of(gx) +
                                  (residual ? profiler::bytes_of(*grad_residual) : 0));
  const std::int64_t m = rows(x), channels = x.size(1);
  MG_DISPATCH_FLOATING(x.dtype(), [&] {
    const auto mu = mean.to_vector<scalar_t>(), inv = invstd.to_vector<scalar_t>();
    const auto w = values_or<scalar_t>(weight, channels, 1);
    const scalar_t* g = grad.data_ptr<scalar_t>();
    const scalar_t* in = x.data_ptr<scalar_t>();
    const scalar_t* y = relu_output.defined() ? relu_output.data_ptr<scalar_t>() : nullptr;
    scalar_t* g_residual = residual ? grad_residual->data_ptr<scalar_t>() : nullptr;
    // sum of g and of g * (x - mean), per channel
    std::vector<double> sum_g, sum_gx;
    with_flags(y != nullptr, residual, [&](auto relu, auto with_residual) {
      channel_sums(m, channels, sum_g, sum_gx, [&](std::int64_t r, double* __restrict a, double* __restrict b) {
        const std::int64_t row = r * channels;
        const scalar_t* __restrict x_row = in + row;
        const scalar_t* __restrict mean_of = mu.data();
        for (std::int64_t c = 0; c < channels; ++c) {
          const scalar_t gi = incoming<decltype(relu)::value>(g, y, row + c);
          if constexpr (with_residual) g_residual[row + c] = gi;
          a[c] += gi;
          b[c] += static_cast<double>(gi) * (x_row[c] - mean_of[c]);
        }
      });
    });
    if (grad_bias.defined()) grad_bias.copy_(Tensor::from_vector(sum_g, {channels}));
    if (grad_weight.defined()) {
      std::vector<double> gw(static_cast<std::size_t>(channels));
      for (std::size_t c = 0; c < gw.size(); ++c) gw[c] = sum_gx[c] * inv[c];
      grad_weight.copy_(Tensor::from_vector(gw, {channels}));
    }
    if (!gx.defined()) return;
    // gx = w * invstd * (g - mean(g) - (x - mean) * invstd^2 * mean(g * (x - mean))),
    // means over every process's rows
    const double count = sum_over_processes(over_processes, sum_g, sum_gx, m);
    std::vector<scalar_t> scale(static_cast<std::size_t>(channels)), mean_g(scale.size()), coefficient(scale.size());
    for (std::size_t c = 0; c < scale.size(); ++c) {
      scale[c] = w[c] * inv[c];
      mean_g[c] = static_cast<scalar_t>(sum_g[c] / count);
      coefficient[c] = static_cast<scalar_t>(sum_gx[c] / count * inv[c] * inv[c]);
    }
    scalar_t* out = gx.data_ptr<scalar_t>();
    with_flags(y != nullptr, false, [&](auto relu, auto) {
      parallel_for(
          0, m, std::max<std::int64_t>(1, kElementwiseGrain / channels), [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t r = lo; r < hi; ++r)
              for (std::int64_t c = 0; c < channels; ++c) {
                const std::size_t k = static_cast<std::size_t>(c);
                const std::int64_t i = r * channels + c;
                out[i] = scale[k] *
                         (incoming<decltype(relu)::value>(g, y, i) - mean_g[k] - (in[i] - mu[k]) * coefficient[k]);
              }
          });
    });
  });
}

}  // namespace mg::kernels
