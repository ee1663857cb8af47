#include "pool.hpp"

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "../dispatch.hpp"
#include "../parallel.hpp"
#include "../profiling.hpp"
#include "view4.hpp"

namespace mg::kernels {
namespace {

// Calls f(n, i, scratch) for every output row, in parallel over rows, with
// a scratch array of `scratch` elements per thread.
template <class Scratch, class F>
void for_each_output_row(const Tensor& y, std::int64_t scratch, const F& f) {
  const std::int64_t rows = y.size(0) * y.size(2);
  const std::int64_t work_per_row = std::max<std::int64_t>(1, y.size(1) * y.size(3));
  parallel_for(0, rows, std::max<std::int64_t>(1, kElementwiseGrain / work_per_row),
               [&](std::int64_t lo, std::int64_t hi) {
                 std::vector<Scratch> buffer(static_cast<std::size_t>(scratch));
                 for (std::int64_t r = lo; r < hi; ++r) f(r / y.size(2), r % y.size(2), buffer.data());
               });
}

// Calls f(n, i, j) for every output position, in parallel over (n, i).
template <class F>
void for_each_output(const Tensor& y, const F& f) {
  for_each_output_row<char>(y, 0, [&](std::int64_t n, std::int64_t i, char*) {
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

// Calls f(c) for every channel: in blocks of 16 of known length, which
// compile to single vector operations without a runtime trip count, then the rest.
template <class F>
inline void for_each_channel(std::int64_t channels, const F& f) {
  constexpr std::int64_t kBlock = 16;
  std::int64_t c = 0;
  for (; c + kBlock <= channels; c += kBlock)
    for (std::int64_t k = 0; k < kBlock; ++k) f(c + k);
  for (; c < channels; ++c) f(c);
}

// Without `ip` (inference), only the maxima are computed.
template <class T>
void max_pool2d_channels_last(const Tensor& x, Tensor& y, std::int64_t* ip, const PoolGeometry& g) {
  const T* xp = x.data_ptr<T>();
  T* yp = y.data_ptr<T>();
  const std::int64_t channels = x.size(1), height = x.size(2), width = x.size(3);
  const std::int64_t oh = y.size(2), ow = y.size(3);
  // Indices are tracked in 32-bit lanes, as wide as the float values they
  // follow, so the selects vectorise; they are widened once per pixel.
  using Index = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
  for_each_output_row<Index>(y, channels, [&](std::int64_t n, std::int64_t i, Index* __restrict index_of) {
    const std::int64_t h0 = i * g.stride - g.padding;
    const std::int64_t h_begin = std::max<std::int64_t>(h0, 0), h_end = std::min(h0 + g.kernel, height);
    for (std::int64_t j = 0; j < ow; ++j) {
      T* __restrict best = yp + ((n * oh + i) * ow + j) * channels;
      const std::int64_t w0 = j * g.stride - g.padding;
      const std::int64_t w_begin = std::max<std::int64_t>(w0, 0), w_end = std::min(w0 + g.kernel, width);
      bool first = true;
      for (std::int64_t h = h_begin; h < h_end; ++h)
        for (std::int64_t w = w_begin; w < w_end; ++w) {
          const T* __restrict pixel = xp + ((n * height + h) * width + w) * channels;
          const auto index = static_cast<Index>(h * width + w);
          if (first) {
            for_each_channel(channels, [&](std::int64_t c) { best[c] = pixel[c]; });
            if (ip) for_each_channel(channels, [&](std::int64_t c) { index_of[c] = index; });
            first = false;
          } else if (ip) {
            for_each_channel(channels, [&](std::int64_t c) {
              const T v = pixel[c], b = best[c];
              const bool take = v > b || (v != v && b == b);  // NaN wins
              best[c] = take ? v : b;
              index_of[c] = take ? index : index_of[c];
            });
          } else {
            for_each_channel(channels, [&](std::int64_t c) {
              const T v = pixel[c], b = best[c];
              best[c] = v > b || (v != v && b == b) ? v : b;
            });
          }
        }
      if (!ip) continue;
      std::int64_t* __restrict out_index = ip + ((n * oh + i) * ow + j) * channels;
      for_each_channel(channels, [&](std::int64_t c) { out_index[c] = index_of[c]; });
    }
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

void max_pool2d_scatter(const Tensor& g, const Tensor& indices, Tensor& gx) {
  const profiler::Scope scope(profiler::Kind::Pooling, 0, profiler::bytes_of(g, indices, gx));
  gx.zero_();
  if (channels_last_pair(g, gx) && indices.strides() == g.strides()) {
    MG_DISPATCH_FLOATING(g.dtype(), [&] {
      const scalar_t* gp = g.data_ptr<scalar_t>();
      const std::int64_t* ip = indices.data_ptr<std::int64_t>();
      scalar_t* out = gx.data_ptr<scalar_t>();
      const std::int64_t channels = g.size(1), pixels = g.size(2) * g.size(3), plane = gx.size(2) * gx.size(3);
      parallel_for(0, g.size(0), 1, [&](std::int64_t lo, std::int64_t hi) {
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
    parallel_for(0, g.size(0), 1, [&](std::int64_t lo, std::int64_t hi) {
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
    parallel_for(0, g.size(0), 1, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t n = lo; n < hi; ++n)
        for (std::int64_t i = 0; i < g.size(2); ++i)
          for (std::int64_t j = 0; j < g.size(3); ++j) {
            const std::int64_t h0 = i * geometry.stride - geometry.padding;
            const std::int64_t w0 = j * geometry.stride - geometry.padding;
            for (std::int64_t h = std::max<std::int64_t>(h0, 0); h < std::min(h0 + geometry.kernel, gx.size(2)); ++h)
              for (std::int64_t w = std::max<std::int64_t>(w0, 0); w < std::min(w0 + geometry.kernel, gx.size(3)); ++w)
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
      parallel_for(0, gx.size(0), 1, [&](std::int64_t lo, std::int64_t hi) {
        std::vector<scalar_t> share(static_cast<std::size_t>(channels));
        for (std::int64_t n = lo; n < hi; ++n) {
          for (std::int64_t c = 0; c < channels; ++c) share[static_cast<std::size_t>(c)] = G(n, c, 0, 0) * scale;
          scalar_t* image = out + n * pixels * channels;
          for (std::int64_t p = 0; p < pixels; ++p) std::copy(share.begin(), share.end(), image + p * channels);
        }
      });
    });
    return;
  }
  gx.zero_();
  MG_DISPATCH_FLOATING(g.dtype(), [&] {
    const View4<scalar_t> G(g), GX(gx);
    const std::int64_t height = gx.size(2), width = gx.size(3), oh = g.size(2), ow = g.size(3);
    parallel_for(0, g.size(0), 1, [&](std::int64_t lo, std::int64_t hi) {
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
