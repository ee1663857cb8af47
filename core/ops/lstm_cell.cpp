// The elementwise part of an LSTM cell (torch.nn.LSTMCell's gate layout
// i, f, g, o) in one pass: z = gates + bias, then
// c' = sigmoid(z_f) c + sigmoid(z_i) tanh(z_g) and h' = sigmoid(z_o) tanh(c'),
// returned stacked as (2H, n) = [h'; c']. Feature-major: a column per
// coordinate. The learned optimizer runs it over every coordinate of a
// model, where a dozen separate elementwise ops would each stream (4H, n)
// through memory. Its backward is one pass too
// when no graph is built; with create_graph it is written with the
// differentiable ops, so higher derivatives stay exact.
#include "../kernels/vector_math.hpp"
#include "../parallel.hpp"
#include "../profiling.hpp"
#include "op.hpp"

namespace mg {
namespace {

template <class T>
inline T logistic(T v) {
  return T(1) / (T(1) + std::exp(-v));
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

// Feature-major: gate j of every coordinate lies in one contiguous row, so
// each loop runs over the n coordinates and vectorises whole.
template <class T>
void forward_kernel(const Tensor& gates, const Tensor& bias, const Tensor& c, Tensor& out, std::int64_t hidden) {
  const profiler::Scope scope(profiler::Kind::Elementwise, 0, profiler::bytes_of(gates, c, out));
  const auto x = rows<T>(gates), cell = rows<T>(c), y = rows<T>(out);
  const T* b = bias.data_ptr<T>();
  const std::int64_t H = hidden;
  parallel_for(0, c.size(1), kElementwiseGrain / (4 * H), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t j = 0; j < H; ++j) {
      const T *zi = x[j], *zf = x[H + j], *zg = x[2 * H + j], *zo = x[3 * H + j];
      const T bi = b[j], bf = b[H + j], bg = b[2 * H + j], bo = b[3 * H + j];
      const T* cr = cell[j];
      T* hn = y[j];
      T* cn = y[H + j];
#pragma omp simd
      for (std::int64_t k = lo; k < hi; ++k) {
        const T i = logistic(zi[k] + bi), f = logistic(zf[k] + bf);
        const T g = std::tanh(zg[k] + bg), o = logistic(zo[k] + bo);
        const T next = f * cr[k] + i * g;
        cn[k] = next;
        hn[k] = o * std::tanh(next);
      }
    }
  });
}

// dz (4H, n) and dc (H, n) from the gradients of [h'; c'].
template <class T>
void backward_kernel(const Tensor& gates, const Tensor& bias, const Tensor& c, const Tensor& out, const Tensor& grad,
                     Tensor& dz, Tensor& dc, std::int64_t hidden) {
  const profiler::Scope scope(profiler::Kind::Elementwise, 0, profiler::bytes_of(gates, c, out, grad, dz, dc));
  const auto x = rows<T>(gates), cell = rows<T>(c), y = rows<T>(out), g_in = rows<T>(grad);
  const auto z_out = rows<T>(dz), c_out = rows<T>(dc);
  const T* b = bias.data_ptr<T>();
  const std::int64_t H = hidden;
  parallel_for(0, c.size(1), kElementwiseGrain / (8 * H), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t j = 0; j < H; ++j) {
      const T *zi = x[j], *zf = x[H + j], *zg = x[2 * H + j], *zo = x[3 * H + j];
      const T bi = b[j], bf = b[H + j], bg = b[2 * H + j], bo = b[3 * H + j];
      const T *cr = cell[j], *cn = y[H + j], *dh = g_in[j], *dcn = g_in[H + j];
      T *di = z_out[j], *df = z_out[H + j], *dg = z_out[2 * H + j], *dout = z_out[3 * H + j], *dcr = c_out[j];
#pragma omp simd
      for (std::int64_t k = lo; k < hi; ++k) {
        const T i = logistic(zi[k] + bi), f = logistic(zf[k] + bf);
        const T g = std::tanh(zg[k] + bg), o = logistic(zo[k] + bo);
        const T t = std::tanh(cn[k]);
        const T dnext = dcn[k] + dh[k] * o * (T(1) - t * t);
        di[k] = dnext * g * i * (T(1) - i);
        df[k] = dnext * cr[k] * f * (T(1) - f);
        dg[k] = dnext * i * (T(1) - g * g);
        dout[k] = dh[k] * t * o * (T(1) - o);
        dcr[k] = dnext * f;
      }
    }
  });
}

// The same gradients with differentiable ops (create_graph).
std::pair<Tensor, Tensor> backward_composite(const Tensor& z, const Tensor& c, const Tensor& grad,
                                             std::int64_t hidden) {
  const Tensor i = sigmoid(z.narrow(0, 0, hidden)), f = sigmoid(z.narrow(0, hidden, hidden));
  const Tensor g = tanh(z.narrow(0, 2 * hidden, hidden)), o = sigmoid(z.narrow(0, 3 * hidden, hidden));
  const Tensor t = tanh(f * c + i * g);
  const Tensor dh = grad.narrow(0, 0, hidden);
  const Tensor dnext = grad.narrow(0, hidden, hidden) + dh * o * (1.0 - t * t);
  const Tensor dz =
      cat({dnext * g * i * (1.0 - i), dnext * c * f * (1.0 - f), dnext * i * (1.0 - g * g), dh * t * o * (1.0 - o)}, 0);
  return {dz, dnext * f};
}

}  // namespace

Tensor lstm_cell(const Tensor& gates, const Tensor& bias, const Tensor& c) {
  MG_CHECK(gates.defined() && bias.defined() && c.defined(), "lstm_cell: every input must be defined");
  MG_CHECK(c.dim() == 2 && gates.dim() == 2 && gates.size(0) == 4 * c.size(0) && gates.size(1) == c.size(1) &&
               bias.dim() == 2 && bias.size(0) == gates.size(0) && bias.size(1) == 1,
           "lstm_cell: expected gates (4H, n), bias (4H, 1) and c (H, n); got {}, {} and {}", to_string(gates.shape()),
           to_string(bias.shape()), to_string(c.shape()));
  const DType dtype = c.dtype();
  MG_CHECK(is_floating(dtype) && gates.dtype() == dtype && bias.dtype() == dtype,
           "lstm_cell: the inputs must share one floating dtype");
  const std::int64_t hidden = c.size(0);
  const Tensor z = unit_columns(gates), b = bias.contiguous(), cell = unit_columns(c);
  Tensor out = Tensor::empty({2 * hidden, c.size(1)}, dtype);
  if (dtype == DType::Float32)
    forward_kernel<float>(z, b, cell, out, hidden);
  else
    forward_kernel<double>(z, b, cell, out, hidden);
  return record(
      "lstm_cell", {gates, bias, c}, out,
      [z, b, cell, hidden](const BackwardArgs& in) {
        if (autograd::GradMode::is_enabled()) {
          const auto [dz, dc] = backward_composite(z + b, cell, in.grad, hidden);
          return Grads{dz, dz, dc};  // the engine sums dz over the coordinates for the bias
        }
        const Tensor grad = unit_columns(in.grad);
        const Tensor out_value = in.output().detach();
        Tensor dz = Tensor::empty(z.shape(), z.dtype()), dc = Tensor::empty(cell.shape(), cell.dtype());
        if (z.dtype() == DType::Float32)
          backward_kernel<float>(z, b, cell, out_value, grad, dz, dc, hidden);
        else
          backward_kernel<double>(z, b, cell, out_value, grad, dz, dc, hidden);
        return Grads{dz, dz, dc};
      },
      Save::Output);
}

}  // namespace mg
