// Elementwise ops and their backward rules. Each rule is written with the
// same differentiable ops, and follows PyTorch's formula term for term so
// results agree to rounding.
#include <cmath>

#include "core/kernels/elementwise.hpp"
#include "core/kernels/multiply_add.hpp"
#include "core/kernels/vector_math.hpp"
#include "op.hpp"

namespace mg {
namespace {

Tensor zero_like_scalar(const Tensor& t) { return scalar_tensor(0.0, t.dtype()); }

// Transcendental ops compute in floating point; int64 inputs become float32.
DType floating_dtype(const Tensor& x) { return is_floating(x.dtype()) ? x.dtype() : DType::Float32; }

// The dtype a scalar operand takes next to tensor t.
Tensor scalar_like(double value, const Tensor& t) {
  const bool integral = value == std::trunc(value);
  return scalar_tensor(value, is_floating(t.dtype()) || integral ? t.dtype() : DType::Float32);
}

DType binary_dtype(const Tensor& a, const Tensor& b) { return promote(a.dtype(), b.dtype()); }

void check_defined(const Tensor& t, const char* op) { MG_CHECK(t.defined(), "{}: an operand is undefined", op); }

}  // namespace

// ---- binary arithmetic ------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) {
  check_defined(a, "add");
  check_defined(b, "add");
  Tensor out = kernels::map2(a, b, binary_dtype(a, b), "add", [](auto x, auto y) { return x + y; });
  return record("add", {a, b}, out, [](const BackwardArgs& in) { return Grads{in.grad, in.grad}; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_defined(a, "sub");
  check_defined(b, "sub");
  Tensor out = kernels::map2(a, b, binary_dtype(a, b), "sub", [](auto x, auto y) { return x - y; });
  return record("sub", {a, b}, out, [](const BackwardArgs& in) {
    return Grads{in.grad, in.needs(1) ? -in.grad : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_defined(a, "mul");
  check_defined(b, "mul");
  Tensor out = kernels::map2(a, b, binary_dtype(a, b), "mul", [](auto x, auto y) { return x * y; });
  return record("mul", {a, b}, out, [a, b](const BackwardArgs& in) {
    return Grads{in.needs(0) ? in.grad * b : Tensor(), in.needs(1) ? in.grad * a : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  check_defined(a, "div");
  check_defined(b, "div");
  Tensor out = kernels::map2(a, b, binary_dtype(a, b), "div", [](auto x, auto y) { return x / y; });
  return record("div", {a, b}, out, [a, b](const BackwardArgs& in) {
    return Grads{in.needs(0) ? in.grad / b : Tensor(), in.needs(1) ? -in.grad * a / (b * b) : Tensor()};
  });
}

Tensor pow(const Tensor& base, double exponent) {
  check_defined(base, "pow");
  const DType dtype = is_floating(base.dtype()) || exponent == std::trunc(exponent) ? base.dtype() : DType::Float32;
  Tensor out = kernels::map1(base, dtype, [exponent](auto x) {
    using T = decltype(x);
    return static_cast<T>(std::pow(x, static_cast<T>(exponent)));
  });
  return record("pow", {base}, out, [base, exponent](const BackwardArgs& in) {
    if (exponent == 0.0) return Grads{zeros_like(in.grad)};
    return Grads{in.grad * (exponent * pow(base, exponent - 1.0))};
  });
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  check_defined(base, "pow");
  check_defined(exponent, "pow");
  Tensor out = kernels::map2(base, exponent, binary_dtype(base, exponent), "pow", [](auto x, auto y) {
    using T = decltype(x);
    return static_cast<T>(std::pow(x, y));
  });
  return record(
      "pow", {base, exponent}, out,
      [base, exponent](const BackwardArgs& in) {
        Grads grads(2);
        const Tensor zero = zero_like_scalar(in.grad);
        if (in.needs(0)) grads[0] = where(eq(exponent, zero), zero, in.grad * (exponent * pow(base, exponent - 1.0)));
        if (in.needs(1)) {
          // d/dy x^y = x^y log x, taken as 0 where x == 0 and y >= 0 (the limit).
          const Tensor base_is_zero_limit = eq(base, zero) * ge(exponent, zero);
          grads[1] = in.grad * where(base_is_zero_limit, zero, in.output() * log(base));
        }
        return grads;
      },
      Save::Output);
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  check_defined(a, "maximum");
  check_defined(b, "maximum");
  Tensor out = kernels::map2(a, b, binary_dtype(a, b), "maximum", [](auto x, auto y) {
    return (x != x || x > y) ? x : y;  // NaN propagates
  });
  return record("maximum", {a, b}, out, [a, b](const BackwardArgs& in) {
    // Ties split the gradient evenly.
    const Tensor zero = zero_like_scalar(in.grad);
    const Tensor shared = where(eq(a, b), in.grad / 2.0, in.grad);
    return Grads{in.needs(0) ? where(lt(a, b), zero, shared) : Tensor(),
                 in.needs(1) ? where(gt(a, b), zero, shared) : Tensor()};
  });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  check_defined(a, "minimum");
  check_defined(b, "minimum");
  Tensor out = kernels::map2(a, b, binary_dtype(a, b), "minimum", [](auto x, auto y) {
    return (x != x || x < y) ? x : y;  // NaN propagates
  });
  return record("minimum", {a, b}, out, [a, b](const BackwardArgs& in) {
    const Tensor zero = zero_like_scalar(in.grad);
    const Tensor shared = where(eq(a, b), in.grad / 2.0, in.grad);
    return Grads{in.needs(0) ? where(gt(a, b), zero, shared) : Tensor(),
                 in.needs(1) ? where(lt(a, b), zero, shared) : Tensor()};
  });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(b, a)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(b, a)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(b, a)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(a, b), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(a, b), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(a, b), b); }
Tensor operator-(const Tensor& a) { return neg(a); }

// ---- comparisons and selection ------------------------------------------------

#define MG_COMPARISON(name, expr)                                                       \
  Tensor name(const Tensor& a, const Tensor& b) {                                       \
    check_defined(a, #name);                                                            \
    check_defined(b, #name);                                                            \
    return kernels::map2(a, b, binary_dtype(a, b), #name,                               \
                         [](auto x, auto y) -> decltype(x) { return (expr) ? 1 : 0; }); \
  }
MG_COMPARISON(eq, x == y)
MG_COMPARISON(ne, x != y)
MG_COMPARISON(lt, x < y)
MG_COMPARISON(le, x <= y)
MG_COMPARISON(gt, x > y)
MG_COMPARISON(ge, x >= y)
#undef MG_COMPARISON

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_defined(condition, "where");
  check_defined(a, "where");
  check_defined(b, "where");
  const DType dtype = binary_dtype(a, b);
  const Tensor c = kernels::as_dtype(condition, dtype);
  Tensor out = kernels::map3(c, a, b, dtype, "where", [](auto k, auto x, auto y) { return k != 0 ? x : y; });
  return record("where", {condition, a, b}, out, [c](const BackwardArgs& in) {
    const Tensor zero = zero_like_scalar(in.grad);
    return Grads{Tensor(), in.needs(1) ? where(c, in.grad, zero) : Tensor(),
                 in.needs(2) ? where(c, zero, in.grad) : Tensor()};
  });
}

Tensor fma(const Tensor& a, const Tensor& b, const Tensor& c) {
  check_defined(a, "fma");
  check_defined(b, "fma");
  check_defined(c, "fma");
  const DType dtype = promote(binary_dtype(a, b), c.dtype());
  Tensor out =
      kernels::map3(a, b, c, dtype, "fma", [](auto x, auto y, auto z) { return kernels::multiply_add(x, y, z); });
  return record("fma", {a, b, c}, out, [a, b](const BackwardArgs& in) {
    return Grads{in.needs(0) ? in.grad * b : Tensor(), in.needs(1) ? in.grad * a : Tensor(),
                 in.needs(2) ? in.grad : Tensor()};
  });
}

// ---- unary --------------------------------------------------------------------

Tensor neg(const Tensor& x) {
  check_defined(x, "neg");
  Tensor out = kernels::map1(x, x.dtype(), [](auto v) { return -v; });
  return record("neg", {x}, out, [](const BackwardArgs& in) { return Grads{-in.grad}; });
}

Tensor exp(const Tensor& x) {
  check_defined(x, "exp");
  Tensor out = kernels::map1(x, floating_dtype(x), [](auto v) { return std::exp(v); });
  return record(
      "exp", {x}, out, [](const BackwardArgs& in) { return Grads{in.grad * in.output()}; }, Save::Output);
}

Tensor log(const Tensor& x) {
  check_defined(x, "log");
  Tensor out = kernels::map1(x, floating_dtype(x), [](auto v) { return std::log(v); });
  return record("log", {x}, out, [x](const BackwardArgs& in) { return Grads{in.grad / x}; });
}

Tensor sqrt(const Tensor& x) {
  check_defined(x, "sqrt");
  Tensor out = kernels::map1(x, floating_dtype(x), [](auto v) { return std::sqrt(v); });
  return record(
      "sqrt", {x}, out, [](const BackwardArgs& in) { return Grads{in.grad / (2.0 * in.output())}; }, Save::Output);
}

Tensor abs(const Tensor& x) {
  check_defined(x, "abs");
  Tensor out = kernels::map1(x, x.dtype(), [](auto v) { return v < 0 ? -v : v; });
  return record("abs", {x}, out, [x](const BackwardArgs& in) { return Grads{in.grad * sign(x)}; });
}

Tensor sign(const Tensor& x) {
  check_defined(x, "sign");
  Tensor out = kernels::map1(x, x.dtype(), [](auto v) -> decltype(v) { return (v > 0) - (v < 0); });
  return record("sign", {x}, out, [](const BackwardArgs& in) { return Grads{zeros_like(in.grad)}; });
}

Tensor tanh(const Tensor& x) {
  check_defined(x, "tanh");
  Tensor out = kernels::map1(x, floating_dtype(x), [](auto v) { return std::tanh(v); });
  return record(
      "tanh", {x}, out,
      [](const BackwardArgs& in) {
        const Tensor& y = in.output();
        return Grads{in.grad * (1.0 - y * y)};
      },
      Save::Output);
}

Tensor sigmoid(const Tensor& x) {
  check_defined(x, "sigmoid");
  Tensor out = kernels::map1(x, floating_dtype(x), [](auto v) {
    using T = decltype(v);
    return T(1) / (T(1) + std::exp(-v));
  });
  return record(
      "sigmoid", {x}, out,
      [](const BackwardArgs& in) {
        const Tensor& y = in.output();
        return Grads{in.grad * (1.0 - y) * y};
      },
      Save::Output);
}

namespace {
// grad where output > 0, else 0: relu's gradient in one pass. It is linear
// in grad (so it is its own gradient) and flat in output.
Tensor relu_backward(const Tensor& grad, const Tensor& output) {
  Tensor out = kernels::map2(grad, output, grad.dtype(), "relu_backward",
                             [](auto g, auto y) -> decltype(g) { return y > 0 ? g : 0; });
  return record("relu_backward", {grad, output}, out, [output](const BackwardArgs& in) {
    return Grads{relu_backward(in.grad, output), Tensor()};
  });
}
}  // namespace

Tensor relu(const Tensor& x) {
  check_defined(x, "relu");
  Tensor out = kernels::map1(x, x.dtype(), [](auto v) -> decltype(v) { return v > 0 ? v : 0; });
  return record(
      "relu", {x}, out, [](const BackwardArgs& in) { return Grads{relu_backward(in.grad, in.output().detach())}; },
      Save::Output);
}

Tensor clamp(const Tensor& x, double min, double max) {
  check_defined(x, "clamp");
  MG_CHECK(!(min > max), "clamp: min ({}) must not exceed max ({})", min, max);
  Tensor out = kernels::map1(x, x.dtype(), [min, max](auto v) {
    using T = decltype(v);
    // Compare in double so that infinite bounds never convert to int64.
    const double d = static_cast<double>(v);
    if (d != d) return v;
    return d < min ? static_cast<T>(min) : (d > max ? static_cast<T>(max) : v);
  });
  return record("clamp", {x}, out, [x, min, max](const BackwardArgs& in) {
    const Tensor inside = ge(x, scalar_like(min, x)) * le(x, scalar_like(max, x));
    return Grads{where(inside, in.grad, zero_like_scalar(in.grad))};
  });
}

}  // namespace mg
