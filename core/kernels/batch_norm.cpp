#include "batch_norm.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/dispatch.hpp"
#include "core/parallel.hpp"
#include "core/profiling.hpp"
#include "lanes.hpp"
#include "rows.hpp"

namespace mg::kernels {
namespace {

// Rows are reduced in fixed chunks whose partial sums are added in order,
// so results do not depend on the thread count.
constexpr std::int64_t kRowsPerChunk = 256;

std::int64_t rows(const Tensor& x) { return x.numel() / x.size(1); }

// Per-channel sums over the m rows, accumulated in double:
// accumulate_rows(r0, r1, a, b) adds rows [r0, r1) into a[c] and b[c].
template <class F>
void channel_sums(std::int64_t m, std::int64_t channels, std::vector<double>& out_a, std::vector<double>& out_b,
                  const F& accumulate_rows) {
  const std::int64_t chunks = (m + kRowsPerChunk - 1) / kRowsPerChunk;
  std::vector<double> partial(static_cast<std::size_t>(chunks * channels * 2), 0.0);
  parallel_for(0, chunks, grain_for(kRowsPerChunk * channels), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t chunk = lo; chunk < hi; ++chunk) {
      double* a = partial.data() + chunk * channels * 2;
      accumulate_rows(chunk * kRowsPerChunk, std::min(m, (chunk + 1) * kRowsPerChunk), a, a + channels);
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

using Doubles8 = LanesOf<double, 8>;

// Element i (channel c) of [M, C] rows, for the terms of per-channel sums,
// which are written once for it and for EightElements.
struct OneElement {
  std::int64_t i, c;
  template <class T>
  T load(const T* p) const {
    return p[i];
  }
  template <class T>
  T channel(const T* p) const {
    return p[c];
  }
  template <class T>
  void store(T* p, T v) const {
    p[i] = v;
  }
  template <class T>
  static double widen(T v) {
    return v;
  }
  template <class T>
  static T where_positive(T y, T v) {
    return y > T(0) ? v : T(0);
  }
};

// Elements i..i+7 (channels c..c+7) of one row.
struct EightElements {
  std::int64_t i, c;
  template <class T>
  LanesOf<T, 8> load(const T* p) const {
    return load_lanes<8>(p + i);
  }
  template <class T>
  LanesOf<T, 8> channel(const T* p) const {
    return load_lanes<8>(p + c);
  }
  template <class T, class V>
  void store(T* p, V v) const {
    store_lanes(p + i, v);
  }
  template <class V>
  static Doubles8 widen(V v) {
    return __builtin_convertvector(v, Doubles8);
  }
  template <class V>
  static V where_positive(V y, V v) {
    return y > V{} ? v : V{};
  }
};

// a[c] += the sum over rows [r0, r1) of terms(e).first, b[c] += of .second,
// e the element of channel c in each row (OneElement), or eight channels at
// once (EightElements) when the channel count is fixed (kChannels, a multiple
// of 8, else 0): the sums then stay in vector registers for the whole chunk.
// Either way each channel's sum adds the rows in order.
template <std::int64_t kChannels, class Terms>
void sum_rows(std::int64_t r0, std::int64_t r1, std::int64_t channels, double* a, double* b, const Terms& terms) {
  if constexpr (kChannels > 0) {
    constexpr std::int64_t kVectors = kChannels / 8;
    std::array<Doubles8, kVectors> sum_a{}, sum_b{};
    for (std::int64_t r = r0; r < r1; ++r)
      for (std::int64_t k = 0; k < kVectors; ++k) {
        const auto [ta, tb] = terms(EightElements{r * kChannels + 8 * k, 8 * k});
        sum_a[static_cast<std::size_t>(k)] += ta;
        sum_b[static_cast<std::size_t>(k)] += tb;
      }
    for (std::int64_t c = 0; c < kChannels; ++c) {
      a[c] += sum_a[static_cast<std::size_t>(c / 8)][c % 8];
      b[c] += sum_b[static_cast<std::size_t>(c / 8)][c % 8];
    }
  } else {
    for (std::int64_t r = r0; r < r1; ++r)
      for (std::int64_t c = 0; c < channels; ++c) {
        const auto [ta, tb] = terms(OneElement{r * channels + c, c});
        a[c] += ta;
        b[c] += tb;
      }
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
    with_channel_count(channels, [&](auto fixed) {
      channel_sums(m, channels, sum, sum_squares, [&](std::int64_t r0, std::int64_t r1, double* a, double* b) {
        sum_rows<decltype(fixed)::value>(r0, r1, channels, a, b, [&](const auto& e) {
          const auto v = e.widen(e.load(data));
          return std::pair{v, v * v};
        });
      });
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
    with_channel_count(channels, [&](auto fixed) {
      with_flags(residual != nullptr, then.relu, [&](auto with_residual, auto relu) {
        for_each_element<decltype(fixed)::value>(m, channels, [&](std::int64_t i, std::size_t c) {
          scalar_t v = in[i] * scale[c] + shift[c];
          if constexpr (with_residual) v += residual[i];
          if constexpr (relu) v = v > 0 ? v : scalar_t(0);
          out[i] = v;
        });
      });
    });
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
    with_channel_count(channels, [&](auto fixed) {
      with_flags(y != nullptr, residual, [&](auto relu, auto with_residual) {
        channel_sums(m, channels, sum_g, sum_gx, [&](std::int64_t r0, std::int64_t r1, double* a, double* b) {
          sum_rows<decltype(fixed)::value>(r0, r1, channels, a, b, [&](const auto& e) {
            auto gi = e.load(g);
            if constexpr (decltype(relu)::value) gi = e.where_positive(e.load(y), gi);
            if constexpr (decltype(with_residual)::value) e.store(g_residual, gi);
            const auto wide = e.widen(gi);
            return std::pair{wide, wide * e.widen(e.load(in) - e.channel(mu.data()))};
          });
        });
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
    with_channel_count(channels, [&](auto fixed) {
      with_flags(y != nullptr, false, [&](auto relu, auto) {
        for_each_element<decltype(fixed)::value>(m, channels, [&](std::int64_t i, std::size_t c) {
          out[i] = scale[c] * (incoming<decltype(relu)::value>(g, y, i) - mean_g[c] - (in[i] - mu[c]) * coefficient[c]);
        });
      });
    });
  });
}

}  // namespace mg::kernels
