// Plain-loop convolutions in any dtype and layout: the float64 path and the
// oracle the oneDNN path is tested against.
#include "conv_reference.hpp"

#include "core/dispatch.hpp"
#include "view4.hpp"

namespace mg::kernels {
namespace {

// One multiply-add of a convolution: output (n, oc, oh, ow) takes input
// (n, ic, ih, iw) times weight (oc, icg, kh, kw), icg being ic within its group.
struct Tap {
  std::int64_t n, oc, oh, ow, ic, icg, kh, kw, ih, iw;
};

// Calls f(tap) for every tap that lands inside the input.
template <class F>
void for_each_tap(const Shape& xs, const Shape& ws, const Shape& ys, const ConvGeometry& g, const F& f) {
  const std::int64_t oc_per_group = ws[0] / g.groups, ic_per_group = ws[1];
  for (std::int64_t n = 0; n < ys[0]; ++n)
    for (std::int64_t oc = 0; oc < ys[1]; ++oc) {
      const std::int64_t group = oc / oc_per_group;
      for (std::int64_t oh = 0; oh < ys[2]; ++oh)
        for (std::int64_t ow = 0; ow < ys[3]; ++ow)
          for (std::int64_t icg = 0; icg < ic_per_group; ++icg)
            for (std::int64_t kh = 0; kh < ws[2]; ++kh) {
              const std::int64_t ih = oh * g.stride - g.padding + kh * g.dilation;
              if (ih < 0 || ih >= xs[2]) continue;
              for (std::int64_t kw = 0; kw < ws[3]; ++kw) {
                const std::int64_t iw = ow * g.stride - g.padding + kw * g.dilation;
                if (iw < 0 || iw >= xs[3]) continue;
                f(Tap{n, oc, oh, ow, group * ic_per_group + icg, icg, kh, kw, ih, iw});
              }
            }
    }
}

// A gradient of the convolution x (*) w = y: `out` zeroed, then
// add(OUT, A, B, tap) at every tap, over views of out, a and b.
template <class Add>
void accumulate_taps(Tensor& out, const Tensor& a, const Tensor& b, const Shape& xs, const Shape& ws, const Shape& ys,
                     const ConvGeometry& g, const Add& add) {
  MG_DISPATCH_FLOATING(out.dtype(), [&] {
    const View4<scalar_t> OUT(out), A(a), B(b);
    out.zero_();
    for_each_tap(xs, ws, ys, g, [&](const Tap& t) { add(OUT, A, B, t); });
  });
}

}  // namespace

void reference_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const ConvGeometry& g) {
  MG_DISPATCH_FLOATING(y.dtype(), [&] {
    const View4<scalar_t> X(x), W(w), Y(y);
    y.zero_();
    if (b.defined()) {
      const Tensor bias_values = b.detach().contiguous();
      const scalar_t* bias = bias_values.data_ptr<scalar_t>();
      for (std::int64_t n = 0; n < y.size(0); ++n)
        for (std::int64_t c = 0; c < y.size(1); ++c)
          for (std::int64_t h = 0; h < y.size(2); ++h)
            for (std::int64_t v = 0; v < y.size(3); ++v) Y(n, c, h, v) = bias[c];
    }
    for_each_tap(x.shape(), w.shape(), y.shape(), g, [&](const Tap& t) {
      Y(t.n, t.oc, t.oh, t.ow) += X(t.n, t.ic, t.ih, t.iw) * W(t.oc, t.icg, t.kh, t.kw);
    });
  });
}

void reference_conv2d_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx, const ConvGeometry& g) {
  accumulate_taps(gx, gy, w, gx.shape(), w.shape(), gy.shape(), g, [](auto& GX, auto& GY, auto& W, const Tap& t) {
    GX(t.n, t.ic, t.ih, t.iw) += GY(t.n, t.oc, t.oh, t.ow) * W(t.oc, t.icg, t.kh, t.kw);
  });
}

void reference_conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, const ConvGeometry& g) {
  accumulate_taps(gw, x, gy, x.shape(), gw.shape(), gy.shape(), g, [](auto& GW, auto& X, auto& GY, const Tap& t) {
    GW(t.oc, t.icg, t.kh, t.kw) += X(t.n, t.ic, t.ih, t.iw) * GY(t.n, t.oc, t.oh, t.ow);
  });
}

}  // namespace mg::kernels
