#include "pool.hpp"

#include <algorithm>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/dispatch.hpp"
#include "core/parallel.hpp"
#include "core/profiling.hpp"
#include "lanes.hpp"
#include "view4.hpp"

namespace mg::kernels {
namespace {

// Calls f(n, i) for every output row, in parallel over rows.
template <class F>
void for_each_output_row(const Tensor& y, const F& f) {
  const std::int64_t rows = y.size(0) * y.size(2);
  const std::int64_t work_per_row = std::max<std::int64_t>(1, y.size(1) * y.size(3));
  parallel_for(0, rows, grain_for(work_per_row), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t r = lo; r < hi; ++r) f(r / y.size(2), r % y.size(2));
  });
}

// Calls f(n, i, j) for every output position, in parallel over (n, i).
template <class F>
void for_each_output(const Tensor& y, const F& f) {
  for_each_output_row(y, [&](std::int64_t n, std::int64_t i) {
    for (std::int64_t j = 0; j < y.size(3); ++j) f(n, i, j);
  });
}

std::int64_t window_start(std::int64_t i, std::int64_t in, std::int64_t out) { return i * in / out; }
std::int64_t window_end(std::int64_t i, std::int64_t in, std::int64_t out) { return ((i + 1) * in + out - 1) / out; }

}  // namespace

namespace {

// Channels-last tensors keep each pixel's channels contiguous, so the loops
// below run over channels in the innermost position and vectorise.
bool channels_last_pair(const Tensor& a, const Tensor& b) { return a.is_channels_last() && b.is_channels_last(); }

// The maximum over a window of one channel's value (V a scalar) or of
// sixteen channels' (V a vector), and its index h * W + w (I, as wide as V's
// lanes): load(h, w) gives the value(s) at a pixel. A NaN wins, the first
// of several.
template <class V, class I, class Load>
std::pair<V, I> window_max(std::int64_t h_begin, std::int64_t h_end, std::int64_t w_begin, std::int64_t w_end,
                           std::int64_t width, const Load& load) {
  V best = load(h_begin, w_begin);
  I at = splat<I>(h_begin * width + w_begin);
  for (std::int64_t h = h_begin; h < h_end; ++h)
    for (std::int64_t w = (h == h_begin ? w_begin + 1 : w_begin); w < w_end; ++w) {
      const V v = load(h, w);
      const auto take = (v > best) | ((v != v) & (best == best));
      best = take ? v : best;
      at = take ? splat<I>(h * width + w) : at;
    }
  return {best, at};
}

// Without `ip` (inference), only the maxima are written. Sixteen channels at
// a time, each window's running maximum held in registers.
template <class T>
void max_pool2d_channels_last(const Tensor& x, Tensor& y, std::int64_t* ip, const PoolGeometry& g) {
  const T* xp = x.data_ptr<T>();
  T* yp = y.data_ptr<T>();
  const std::int64_t channels = x.size(1), height = x.size(2), width = x.size(3);
  const std::int64_t oh = y.size(2), ow = y.size(3);
  // Indices are tracked in lanes as wide as the values they follow, so the
  // selects vectorise; they are widened when written.
  using Index = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
  using Values = LanesOf<T, 16>;
  using Indices = LanesOf<Index, 16>;
  for_each_output_row(y, [&](std::int64_t n, std::int64_t i) {
    const std::int64_t h0 = i * g.stride - g.padding;
    const std::int64_t h_begin = std::max<std::int64_t>(h0, 0), h_end = std::min(h0 + g.kernel, height);
    for (std::int64_t j = 0; j < ow; ++j) {
      const std::int64_t w0 = j * g.stride - g.padding;
      const std::int64_t w_begin = std::max<std::int64_t>(w0, 0), w_end = std::min(w0 + g.kernel, width);
      const std::int64_t out = ((n * oh + i) * ow + j) * channels;
      const auto pixel = [&](std::int64_t h, std::int64_t w) { return xp + ((n * height + h) * width + w) * channels; };
      std::int64_t c = 0;
      for (; c + 16 <= channels; c += 16) {
        const auto [best, at] = window_max<Values, Indices>(
            h_begin, h_end, w_begin, w_end, width,
            [&](std::int64_t h, std::int64_t w) { return load_lanes<16>(pixel(h, w) + c); });
        store_lanes(yp + out + c, best);
        if (ip) store_lanes(ip + out + c, __builtin_convertvector(at, LanesOf<std::int64_t, 16>));
      }
      for (; c < channels; ++c) {
        const auto [best, at] = window_max<T, Index>(h_begin, h_end, w_begin, w_end, width,
                                                     [&](std::int64_t h, std::int64_t w) { return pixel(h, w)[c]; });
        yp[out + c] = best;
        if (ip) ip[out + c] = at;
      }
    }
  });
}

// The gradient of a max pooling whose windows tile the input (stride =
// kernel, no padding), channels-last: each pixel of a window is written
// once, with its channels' gradients where it held the maximum and zeros
// elsewhere; the rows and columns no window covers (the input's size not a
// multiple of the kernel) get zeros. No zero-fill first, no scattered adds.
template <class T>
void max_pool2d_scatter_tiles(const Tensor& g, const Tensor& indices, Tensor& gx, std::int64_t kernel) {
  using Index = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
  using Values = LanesOf<T, 16>;
  using Indices = LanesOf<Index, 16>;
  const T* gp = g.data_ptr<T>();
  const std::int64_t* ip = indices.data_ptr<std::int64_t>();
  T* out = gx.data_ptr<T>();
  const std::int64_t channels = g.size(1), height = gx.size(2), width = gx.size(3);
  const std::int64_t oh = g.size(2), ow = g.size(3), covered = ow * kernel;
  const auto row_of = [&](std::int64_t n, std::int64_t h) { return out + (n * height + h) * width * channels; };
  for_each_output_row(g, [&](std::int64_t n, std::int64_t i) {
    for (std::int64_t h = i * kernel; h < (i + 1) * kernel; ++h) {
      T* row = row_of(n, h);
      for (std::int64_t j = 0; j < ow; ++j) {
        const std::int64_t at = ((n * oh + i) * ow + j) * channels;
        for (std::int64_t w = j * kernel; w < (j + 1) * kernel; ++w) {
          const std::int64_t index = h * width + w;
          T* pixel = row + w * channels;
          std::int64_t c = 0;
          for (; c + 16 <= channels; c += 16) {
            const auto held = __builtin_convertvector(load_lanes<16>(ip + at + c), Indices) == splat<Indices>(index);
            store_lanes(pixel + c, held ? load_lanes<16>(gp + at + c) : Values{});
          }
          for (; c < channels; ++c) pixel[c] = ip[at + c] == index ? gp[at + c] : T(0);
        }
      }
      std::fill(row + covered * channels, row + width * channels, T(0));
    }
    if (i + 1 == oh) std::fill(row_of(n, oh * kernel), row_of(n, height), T(0));
  });
}

}  // namespace

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor* indices, const PoolGeometry& g) {
  const profiler::Scope scope(profiler::Kind::Pooling, 0,
                              profiler::bytes_of(x, y) + (indices ? profiler::bytes_of(*indices) : 0));
  if (channels_last_pair(x, y) && (!indices || indices->strides() == y.strides())) {
    MG_DISPATCH_FLOATING(x.dtype(), [&] {
      max_pool2d_channels_last<scalar_t>(x, y, indices ? indices->data_ptr<std::int64_t>() : nullptr, g);
    });
    return;
  }
  Tensor scratch;
  if (!indices) {
    scratch = Tensor::empty(y.shape(), DType::Int64);
    indices = &scratch;
  }
  MG_DISPATCH_FLOATING(x.dtype(), [&] {
    const View4<scalar_t> X(x), Y(y);
    const View4<std::int64_t> I(*indices);
    const std::int64_t channels = x.size(1), height = x.size(2), width = x.size(3);
    for_each_output(y, [&](std::int64_t n, std::int64_t i, std::int64_t j) {
      const std::int64_t h0 = i * g.stride - g.padding, w0 = j * g.stride - g.padding;
      for (std::int64_t c = 0; c < channels; ++c) {
        scalar_t best = -std::numeric_limits<scalar_t>::infinity();
        std::int64_t best_index = -1;
        for (std::int64_t h = std::max<std::int64_t>(h0, 0); h < std::min(h0 + g.kernel, height); ++h)
          for (std::int64_t w = std::max<std::int64_t>(w0, 0); w < std::min(w0 + g.kernel, width); ++w) {
            const scalar_t v = X(n, c, h, w);
            if (v > best || v != v || best_index < 0) {
              best = v;
              best_index = h * width + w;
              if (v != v) break;
            }
          }
        Y(n, c, i, j) = best;
        I(n, c, i, j) = best_index;
      }
    });
  });
}

void max_pool2d_scatter(const Tensor& g, const Tensor& indices, Tensor& gx, const PoolGeometry& geometry) {
  const profiler::Scope scope(profiler::Kind::Pooling, 0, profiler::bytes_of(g, indices, gx));
  const bool fast = channels_last_pair(g, gx) && indices.strides() == g.strides();
  if (fast && geometry.stride == geometry.kernel && geometry.padding == 0) {
    MG_DISPATCH_FLOATING(g.dtype(), [&] { max_pool2d_scatter_tiles<scalar_t>(g, indices, gx, geometry.kernel); });
    return;
  }
  gx.zero_();
  if (fast) {
    MG_DISPATCH_FLOATING(g.dtype(), [&] {
      const scalar_t* gp = g.data_ptr<scalar_t>();
      const std::int64_t* ip = indices.data_ptr<std::int64_t>();
      scalar_t* out = gx.data_ptr<scalar_t>();
      const std::int64_t channels = g.size(1), pixels = g.size(2) * g.size(3), plane = gx.size(2) * gx.size(3);
      parallel_for(0, g.size(0), grain_for(g.numel() / std::max<std::int64_t>(g.size(0), 1)),
                   [&](std::int64_t lo, std::int64_t hi) {
                     for (std::int64_t n = lo; n < hi; ++n)
                       for (std::int64_t p = 0; p < pixels; ++p) {
                         const std::int64_t at = (n * pixels + p) * channels;
                         scalar_t* image = out + n * plane * channels;
                         for (std::int64_t c = 0; c < channels; ++c) image[ip[at + c] * channels + c] += gp[at + c];
                       }
                   });
    });
    return;
  }
  MG_DISPATCH_FLOATING(g.dtype(), [&] {
    const View4<scalar_t> G(g), GX(gx);
    const View4<std::int64_t> I(indices);
    const std::int64_t width = gx.size(3);
    // Windows overlap when stride < kernel, so rows of one image are not
    // independent: parallelise over images and channels only.
    parallel_for(0, g.size(0), grain_for(g.numel() / std::max<std::int64_t>(g.size(0), 1)),
                 [&](std::int64_t lo, std::int64_t hi) {
                   for (std::int64_t n = lo; n < hi; ++n)
                     for (std::int64_t i = 0; i < g.size(2); ++i)
                       for (std::int64_t j = 0; j < g.size(3); ++j)
                         for (std::int64_t c = 0; c < g.size(1); ++c) {
                           const std::int64_t index = I(n, c, i, j);
                           GX(n, c, index / width, index % width) += G(n, c, i, j);
                         }
                 });
  });
}

void max_pool2d_gather(const Tensor& src, const Tensor& indices, Tensor& out) {
  const profiler::Scope scope(profiler::Kind::Pooling, 0, profiler::bytes_of(src, indices, out));
  MG_DISPATCH_FLOATING(src.dtype(), [&] {
    const View4<scalar_t> S(src), O(out);
    const View4<std::int64_t> I(indices);
    const std::int64_t width = src.size(3);
    for_each_output(out, [&](std::int64_t n, std::int64_t i, std::int64_t j) {
      for (std::int64_t c = 0; c < out.size(1); ++c) {
        const std::int64_t index = I(n, c, i, j);
        O(n, c, i, j) = S(n, c, index / width, index % width);
      }
    });
  });
}

void avg_pool2d_forward(const Tensor& x, Tensor& y, const PoolGeometry& g) {
  const profiler::Scope scope(profiler::Kind::Pooling, 0, profiler::bytes_of(x, y));
  MG_DISPATCH_FLOATING(x.dtype(), [&] {
    const View4<scalar_t> X(x), Y(y);
    const scalar_t scale = scalar_t(1) / static_cast<scalar_t>(g.kernel * g.kernel);
    for_each_output(y, [&](std::int64_t n, std::int64_t i, std::int64_t j) {
      const std::int64_t h0 = i * g.stride - g.padding, w0 = j * g.stride - g.padding;
      for (std::int64_t c = 0; c < x.size(1); ++c) {
        scalar_t total = 0;
        for (std::int64_t h = std::max<std::int64_t>(h0, 0); h < std::min(h0 + g.kernel, x.size(2)); ++h)
          for (std::int64_t w = std::max<std::int64_t>(w0, 0); w < std::min(w0 + g.kernel, x.size(3)); ++w)
            total += X(n, c, h, w);
        Y(n, c, i, j) = total * scale;
      }
    });
  });
}

void avg_pool2d_backward(const Tensor& g, Tensor& gx, const PoolGeometry& geometry) {
  const profiler::Scope scope(profiler::Kind::Pooling, 0, profiler::bytes_of(g, gx));
  gx.zero_();
  MG_DISPATCH_FLOATING(g.dtype(), [&] {
    const View4<scalar_t> G(g), GX(gx);
    const scalar_t scale = scalar_t(1) / static_cast<scalar_t>(geometry.kernel * geometry.kernel);
    parallel_for(0, g.size(0), grain_for(g.numel() / std::max<std::int64_t>(g.size(0), 1)),
                 [&](std::int64_t lo, std::int64_t hi) {
                   for (std::int64_t n = lo; n < hi; ++n)
                     for (std::int64_t i = 0; i < g.size(2); ++i)
                       for (std::int64_t j = 0; j < g.size(3); ++j) {
                         const std::int64_t h0 = i * geometry.stride - geometry.padding;
                         const std::int64_t w0 = j * geometry.stride - geometry.padding;
                         for (std::int64_t h = std::max<std::int64_t>(h0, 0);
                              h < std::min(h0 + geometry.kernel, gx.size(2)); ++h)
                           for (std::int64_t w = std::max<std::int64_t>(w0, 0);
                                w < std::min(w0 + geometry.kernel, gx.size(3)); ++w)
                             for (std::int64_t c = 0; c < g.size(1); ++c) GX(n, c, h, w) += G(n, c, i, j) * scale;
                       }
                 });
  });
}

void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  const profiler::Scope scope(profiler::Kind::Pooling, 0, profiler::bytes_of(x, y));
  MG_DISPATCH_FLOATING(x.dtype(), [&] {
    const View4<scalar_t> X(x), Y(y);
    const std::int64_t height = x.size(2), width = x.size(3), oh = y.size(2), ow = y.size(3);
    for_each_output(y, [&](std::int64_t n, std::int64_t i, std::int64_t j) {
      const std::int64_t h0 = window_start(i, height, oh), h1 = window_end(i, height, oh);
      const std::int64_t w0 = window_start(j, width, ow), w1 = window_end(j, width, ow);
      const scalar_t scale = scalar_t(1) / static_cast<scalar_t>((h1 - h0) * (w1 - w0));
      for (std::int64_t c = 0; c < x.size(1); ++c) {
        scalar_t total = 0;
        for (std::int64_t h = h0; h < h1; ++h)
          for (std::int64_t w = w0; w < w1; ++w) total += X(n, c, h, w);
        Y(n, c, i, j) = total * scale;
      }
    });
  });
}

void adaptive_avg_pool2d_backward(const Tensor& g, Tensor& gx) {
  const profiler::Scope scope(profiler::Kind::Pooling, 0, profiler::bytes_of(g, gx));
  if (g.size(2) == 1 && g.size(3) == 1 && gx.is_channels_last()) {
    // Global average pooling: every pixel gets its channel's share, one write each.
    MG_DISPATCH_FLOATING(g.dtype(), [&] {
      const View4<scalar_t> G(g);
      scalar_t* out = gx.data_ptr<scalar_t>();
      const std::int64_t channels = gx.size(1), pixels = gx.size(2) * gx.size(3);
      const scalar_t scale = scalar_t(1) / static_cast<scalar_t>(pixels);
      parallel_for(0, gx.size(0), grain_for(gx.numel() / std::max<std::int64_t>(gx.size(0), 1)),
                   [&](std::int64_t lo, std::int64_t hi) {
                     std::vector<scalar_t> share(static_cast<std::size_t>(channels));
                     for (std::int64_t n = lo; n < hi; ++n) {
                       for (std::int64_t c = 0; c < channels; ++c)
                         share[static_cast<std::size_t>(c)] = G(n, c, 0, 0) * scale;
                       scalar_t* image = out + n * pixels * channels;
                       for (std::int64_t p = 0; p < pixels; ++p)
                         std::copy(share.begin(), share.end(), image + p * channels);
                     }
                   });
    });
    return;
  }
  gx.zero_();
  MG_DISPATCH_FLOATING(g.dtype(), [&] {
    const View4<scalar_t> G(g), GX(gx);
    const std::int64_t height = gx.size(2), width = gx.size(3), oh = g.size(2), ow = g.size(3);
    parallel_for(0, g.size(0), grain_for(g.numel() / std::max<std::int64_t>(g.size(0), 1)),
                 [&](std::int64_t lo, std::int64_t hi) {
                   for (std::int64_t n = lo; n < hi; ++n)
                     for (std::int64_t i = 0; i < oh; ++i)
                       for (std::int64_t j = 0; j < ow; ++j) {
                         const std::int64_t h0 = window_start(i, height, oh), h1 = window_end(i, height, oh);
                         const std::int64_t w0 = window_start(j, width, ow), w1 = window_end(j, width, ow);
                         const scalar_t scale = scalar_t(1) / static_cast<scalar_t>((h1 - h0) * (w1 - w0));
                         for (std::int64_t h = h0; h < h1; ++h)
                           for (std::int64_t w = w0; w < w1; ++w)
                             for (std::int64_t c = 0; c < g.size(1); ++c) GX(n, c, h, w) += G(n, c, i, j) * scale;
                       }
                 });
  });
}

}  // namespace mg::kernels
