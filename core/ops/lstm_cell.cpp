// The elementwise part of an LSTM cell (torch.nn.LSTMCell's gate layout
// i, f, g, o) in one pass: z = gates + bias, then
// c' = sigmoid(z_f) c + sigmoid(z_i) tanh(z_g) and h' = sigmoid(z_o) tanh(c'),
// returned stacked as (2H, n) = [h'; c']. Feature-major: a column per
// coordinate. The learned optimizer runs it over every coordinate of a
// model, where a dozen separate elementwise ops would each stream (4H, n)
// through memory. The forward keeps the activated gates for backward, in the
// gates' own memory when the caller hands them over, so the backward (one
// pass too when no graph is built) evaluates one transcendental per element
// instead of five: 40% less time for it at n = 15,910. In float32 with
// AVX-512 the gates use kernels/fast_math.hpp's logistic and tanh (the
// logistic twice as fast as through libmvec's exp). With create_graph the
// backward is written with the differentiable ops, so higher derivatives
// stay exact.
#include <type_traits>

#include "core/dispatch.hpp"
#include "core/kernels/fast_math.hpp"
#include "core/kernels/vector_math.hpp"
#include "core/parallel.hpp"
#include "core/profiling.hpp"
#include "op.hpp"

namespace mg {
namespace {

template <class T>
inline T logistic(T v) {
  return T(1) / (T(1) + std::exp(-v));
}
template <class T>
inline T tanh_of(T v) {
  return std::tanh(v);
}
#if defined(__AVX512F__)
inline __m512 logistic(__m512 v) { return kernels::simd16::logistic(v); }
inline __m512 tanh_of(__m512 v) { return kernels::simd16::tanh(v); }
#endif

// The cell's arithmetic for one coordinate, or 16 at once (V = __m512), z
// with the bias added.
template <class V>
struct Forward {
  V i, f, g, o, c_next, h_next;
};
template <class V>
Forward<V> forward_math(V zi, V zf, V zg, V zo, V c) {
  const V i = logistic(zi), f = logistic(zf), g = tanh_of(zg), o = logistic(zo);
  const V next = f * c + i * g;
  return {i, f, g, o, next, o * tanh_of(next)};
}
template <class V>
struct Backward {
  V di, df, dg, dout, dc;
};
template <class V>
Backward<V> backward_math(V i, V f, V g, V o, V c, V next, V dh, V dnext_in) {
  const V t = tanh_of(next);
  const V dnext = dnext_in + dh * o * (1.0f - t * t);
  return {dnext * g * i * (1.0f - i), dnext * c * f * (1.0f - f), dnext * i * (1.0f - g * g), dh * t * o * (1.0f - o),
          dnext * f};
}

// Row r of a (rows, n) tensor with unit column stride.
template <class T>
struct Rows {
  T* data;
  std::int64_t stride;
  T* operator[](std::int64_t r) const { return data + r * stride; }
};

template <class T>
Rows<T> rows(const Tensor& t) {
  return {t.data_ptr<T>(), t.strides()[0]};
}

// (rows, n) with unit column stride (a contiguous tensor, or a block of rows
// of one, such as c' in [h'; c']).
Tensor unit_columns(const Tensor& t) { return t.strides()[1] == 1 && t.strides()[0] >= t.size(1) ? t : t.contiguous(); }

// Where a loop body reads and writes: one column (the compiler vectorises
// the loop), or with AVX-512 a block of 16 columns, all of them or the last
// few (masked: masked loads and stores are slow here, so only the last block
// uses them).
struct OneColumn {};
template <class T>
T load(const T* p, std::int64_t k, OneColumn) {
  return p[k];
}
template <class T>
void store(T* p, std::int64_t k, T v, OneColumn) {
  p[k] = v;
}
#if defined(__AVX512F__)
struct AllLanes {};
inline __m512 load(const float* p, std::int64_t k, AllLanes) { return _mm512_loadu_ps(p + k); }
inline void store(float* p, std::int64_t k, __m512 v, AllLanes) { _mm512_storeu_ps(p + k, v); }
inline __m512 load(const float* p, std::int64_t k, __mmask16 lanes) { return _mm512_maskz_loadu_ps(lanes, p + k); }
inline void store(float* p, std::int64_t k, __m512 v, __mmask16 lanes) { _mm512_mask_storeu_ps(p + k, lanes, v); }
#endif

// Calls body(k, lanes) over the columns [lo, hi): for float with AVX-512
// on blocks of 16, where libmvec's exp and tanh would bound the loop;
// otherwise column by column.
template <class T, class Body>
void for_columns(std::int64_t lo, std::int64_t hi, const Body& body) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    std::int64_t k = lo;
    for (; k + 16 <= hi; k += 16) body(k, AllLanes{});
    if (k < hi) body(k, static_cast<__mmask16>((1u << (hi - k)) - 1));
    return;
  }
#endif
#pragma omp simd
  for (std::int64_t k = lo; k < hi; ++k) body(k, OneColumn{});
}

// Feature-major: gate j of every coordinate lies in one contiguous row, so
// each loop runs over the n coordinates. `act` may be `gates` itself: each
// element is read before it is overwritten.
template <class T>
void forward_kernel(const Tensor& gates, const Tensor& bias, const Tensor& c, Tensor& act, Tensor& out,
                    std::int64_t hidden) {
  const profiler::Scope scope(profiler::Kind::Elementwise, 0, profiler::bytes_of(gates, c, act, out));
  const auto x = rows<T>(gates), a = rows<T>(act), cell = rows<T>(c), y = rows<T>(out);
  const T* b = bias.data_ptr<T>();
  const std::int64_t H = hidden;
  parallel_for(0, c.size(1), kElementwiseGrain / (4 * H), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t j = 0; j < H; ++j) {
      const T *zi = x[j], *zf = x[H + j], *zg = x[2 * H + j], *zo = x[3 * H + j];
      T *ai = a[j], *af = a[H + j], *ag = a[2 * H + j], *ao = a[3 * H + j];
      const T bi = b[j], bf = b[H + j], bg = b[2 * H + j], bo = b[3 * H + j];
      const T* cr = cell[j];
      T *hn = y[j], *cn = y[H + j];
      for_columns<T>(lo, hi, [&](std::int64_t k, auto lanes) {
        const auto in = [&](const T* p) { return load(p, k, lanes); };
        const auto r = forward_math(in(zi) + bi, in(zf) + bf, in(zg) + bg, in(zo) + bo, in(cr));
        const auto out_to = [&](T* p, auto v) { store(p, k, v, lanes); };
        out_to(ai, r.i), out_to(af, r.f), out_to(ag, r.g), out_to(ao, r.o), out_to(cn, r.c_next);
        out_to(hn, r.h_next);
      });
    }
  });
}

// dz (4H, n) and dc (H, n) from the gradients of [h'; c'], given the
// activated gates: one transcendental per element (tanh c') instead of the
// forward's five.
template <class T>
void backward_kernel(const Tensor& act, const Tensor& c, const Tensor& out, const Tensor& grad, Tensor& dz, Tensor& dc,
                     std::int64_t hidden) {
  const profiler::Scope scope(profiler::Kind::Elementwise, 0, profiler::bytes_of(act, c, out, grad, dz, dc));
  const auto a = rows<T>(act), cell = rows<T>(c), y = rows<T>(out), g_in = rows<T>(grad);
  const auto z_out = rows<T>(dz), c_out = rows<T>(dc);
  const std::int64_t H = hidden;
  parallel_for(0, c.size(1), kElementwiseGrain / (8 * H), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t j = 0; j < H; ++j) {
      const T *ai = a[j], *af = a[H + j], *ag = a[2 * H + j], *ao = a[3 * H + j];
      const T *cr = cell[j], *cn = y[H + j], *dh = g_in[j], *dcn = g_in[H + j];
      T *di = z_out[j], *df = z_out[H + j], *dg = z_out[2 * H + j], *dout = z_out[3 * H + j], *dcr = c_out[j];
      for_columns<T>(lo, hi, [&](std::int64_t k, auto lanes) {
        const auto in = [&](const T* p) { return load(p, k, lanes); };
        const auto r = backward_math(in(ai), in(af), in(ag), in(ao), in(cr), in(cn), in(dh), in(dcn));
        const auto out_to = [&](T* p, auto v) { store(p, k, v, lanes); };
        out_to(di, r.di), out_to(df, r.df), out_to(dg, r.dg), out_to(dout, r.dout), out_to(dcr, r.dc);
      });
    }
  });
}

// The derivative of each activated gate by its input, from the activation
// alone: s (1 - s) for the sigmoids i, f, o and 1 - g^2 for tanh.
Tensor activation_slopes(const Tensor& a, std::int64_t hidden) {
  const Tensor i_f = a.narrow(0, 0, 2 * hidden), g = a.narrow(0, 2 * hidden, hidden),
               o = a.narrow(0, 3 * hidden, hidden);
  return cat({i_f * (1.0 - i_f), 1.0 - g * g, o * (1.0 - o)}, 0);
}

// The saved activations as a differentiable function of the op's gates and
// bias, for create_graph. Their derivative needs only themselves, so
// the gates they overwrote are never needed, at any order.
Tensor differentiable_activations(const Tensor& gates, const Tensor& bias, const Tensor& act, std::int64_t hidden) {
  return record(
      "lstm_cell_activations", {gates, bias}, act.detach(),
      [hidden](const BackwardArgs& in) {
        const Tensor dz = in.grad * activation_slopes(in.output(), hidden);
        return Grads{dz, dz};  // the engine sums dz over the coordinates for the bias
      },
      Save::Output);
}

// The backward kernel's gradients with differentiable ops (create_graph),
// from the activations `a` recorded by differentiable_activations.
std::pair<Tensor, Tensor> backward_composite(const Tensor& a, const Tensor& c, const Tensor& grad,
                                             std::int64_t hidden) {
  const Tensor i = a.narrow(0, 0, hidden), f = a.narrow(0, hidden, hidden);
  const Tensor g = a.narrow(0, 2 * hidden, hidden), o = a.narrow(0, 3 * hidden, hidden);
  const Tensor t = tanh(f * c + i * g);
  const Tensor dh = grad.narrow(0, 0, hidden);
  const Tensor dnext = grad.narrow(0, hidden, hidden) + dh * o * (1.0 - t * t);
  const Tensor da = cat({dnext * g, dnext * c, dnext * i, dh * t}, 0);
  return {da * activation_slopes(a, hidden), dnext * f};
}

}  // namespace

Tensor lstm_cell(Tensor gates, const Tensor& bias, const Tensor& c) {
  MG_CHECK(gates.defined() && bias.defined() && c.defined(), "lstm_cell: every input must be defined");
  MG_CHECK(c.dim() == 2 && gates.dim() == 2 && gates.size(0) == 4 * c.size(0) && gates.size(1) == c.size(1) &&
               bias.dim() == 2 && bias.size(0) == gates.size(0) && bias.size(1) == 1,
           "lstm_cell: expected gates (4H, n), bias (4H, 1) and c (H, n); got {}, {} and {}", to_string(gates.shape()),
           to_string(bias.shape()), to_string(c.shape()));
  const DType dtype = c.dtype();
  MG_CHECK(is_floating(dtype) && gates.dtype() == dtype && bias.dtype() == dtype,
           "lstm_cell: the inputs must share one floating dtype");
  const std::int64_t hidden = c.size(0);
  // Gates nobody else can read (handed over, or copied here) take the
  // activations in their place.
  const bool handed_over = gates.impl_ptr().use_count() == 1 && gates.impl()->storage.use_count() == 1;
  const Tensor z = unit_columns(gates), b = bias.contiguous(), cell = unit_columns(c);
  const bool reuse = handed_over || z.impl()->storage != gates.impl()->storage;
  Tensor act = reuse ? z : Tensor::empty(z.shape(), dtype);
  if (reuse) act.impl()->storage->bump_version();
  Tensor out = Tensor::empty({2 * hidden, c.size(1)}, dtype);
  MG_DISPATCH_FLOATING(dtype, [&] { forward_kernel<scalar_t>(z, b, cell, act, out, hidden); });
  return record(
      "lstm_cell", {gates, bias, c}, out,
      [gates, bias, act, cell, hidden](const BackwardArgs& in) {
        if (autograd::GradMode::is_enabled()) {
          const Tensor a = differentiable_activations(gates, bias, act, hidden);
          const auto [dz, dc] = backward_composite(a, cell, in.grad, hidden);
          return Grads{dz, dz, dc};  // the engine sums dz over the coordinates for the bias
        }
        const Tensor grad = unit_columns(in.grad);
        const Tensor out_value = in.output().detach();
        Tensor dz = Tensor::empty(act.shape(), act.dtype()), dc = Tensor::empty(cell.shape(), cell.dtype());
        MG_DISPATCH_FLOATING(act.dtype(),
                             [&] { backward_kernel<scalar_t>(act, cell, out_value, grad, dz, dc, hidden); });
        return Grads{dz, dz, dc};
      },
      Save::Output);
}

}  // namespace mg
