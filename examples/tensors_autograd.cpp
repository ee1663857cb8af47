// Tutorial 1 (docs/tutorials/01-tensors-and-autograd.md): tensors,
// broadcasting, autograd, gradients of gradients and a Hessian-vector
// product. Every result is compared with a value worked out by hand; the
// program exits 1 if any differs, so it doubles as a test.
#include <metagrad/metagrad.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using mg::Tensor;

int failures = 0;

void expect(const std::string& what, bool ok, const std::string& details = "") {
  if (ok) {
    std::printf("  ok  %s\n", what.c_str());
    return;
  }
  ++failures;
  std::printf("  FAILED  %s%s\n", what.c_str(), details.c_str());
}

// Exact arithmetic on small integers in float64 leaves no rounding to
// forgive, so the default tolerance is zero.
void expect_equal(const std::string& what, const Tensor& actual, const Tensor& expected, double tolerance = 0) {
  const bool ok = actual.shape() == expected.shape() && mg::max(mg::abs(actual - expected)).item<double>() <= tolerance;
  expect(what, ok, ok ? "" : "\n    got      " + actual.to_string() + "\n    expected " + expected.to_string());
}

Tensor f64(const std::vector<double>& values, const mg::Shape& shape) { return Tensor::from_vector(values, shape); }

void tensors_and_broadcasting() {
  std::printf("tensors and broadcasting\n");
  const Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor column = f64({10, 20}, {2, 1});
  const Tensor row = f64({100, 200, 300}, {3});
  std::printf("  a = %s\n", a.to_string().c_str());

  // (2, 3) + (2, 1): the column is repeated along dim 1; (2, 1) * (3) gives
  // the (2, 3) outer product, as in NumPy.
  expect_equal("a + column", a + column, f64({11, 12, 13, 24, 25, 26}, {2, 3}));
  expect_equal("column * row", column * row, f64({1000, 2000, 3000, 2000, 4000, 6000}, {2, 3}));
  expect_equal("sum over dim 0", mg::sum(a, 0), f64({5, 7, 9}, {3}));
  expect_equal("a @ a^T", mg::matmul(a, a.t()), f64({14, 32, 32, 77}, {2, 2}));

  // Views share storage: zeroing row 2 of the transpose zeroes column 2 of b.
  Tensor b = a.clone();
  b.t().select(0, 2).fill_(0);
  expect_equal("write through a view", b, f64({1, 2, 0, 4, 5, 0}, {2, 3}));
}

void first_derivatives() {
  std::printf("autograd\n");
  const Tensor x = f64({1, 2, 3}, {3}).requires_grad_();
  const Tensor y = mg::sum(mg::pow(x, 3.0));
  y.backward();
  expect_equal("d/dx sum(x^3) = 3 x^2", x.grad(), f64({3, 12, 27}, {3}));
}

// With create_graph the gradient is itself a function of x that autograd
// can differentiate again, to any order.
void higher_derivatives() {
  std::printf("gradients of gradients\n");
  const Tensor x = f64({1, 2, 3}, {3}).requires_grad_();
  Tensor derivative = mg::pow(x, 3.0);
  const std::vector<std::pair<std::string, Tensor>> expected = {
      {"3 x^2", f64({3, 12, 27}, {3})}, {"6 x", f64({6, 12, 18}, {3})}, {"6", f64({6, 6, 6}, {3})}};
  for (std::size_t order = 0; order < expected.size(); ++order) {
    derivative = mg::autograd::grad({mg::sum(derivative)}, {x}, {}, false, /*create_graph=*/true)[0];
    expect_equal("order " + std::to_string(order + 1) + ": " + expected[order].first, derivative,
                 expected[order].second);
  }
}

// f(x) = x^T A x / 2 + sum(x^3) / 3 with A symmetric:
// gradient A x + x^2, Hessian A + diag(2 x).
Tensor matrix_a() { return f64({4, 1, 0, 1, 3, -1, 0, -1, 2}, {3, 3}); }

Tensor f(const Tensor& x) { return 0.5 * mg::sum(x * mg::matmul(matrix_a(), x)) + mg::sum(mg::pow(x, 3.0)) / 3.0; }

Tensor hessian_by_hand(const Tensor& x) {
  const Tensor identity = f64({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3});
  return matrix_a() + identity * (2.0 * x);  // (3, 3) * (3): column j scaled by 2 x_j
}

// H v without forming H: differentiate <grad f(x), v> once more. Costs two
// backward passes whatever the dimension.
Tensor hessian_vector_product(const Tensor& x, const Tensor& v) {
  const Tensor point = x.detach().requires_grad_();
  const Tensor gradient = mg::autograd::grad({f(point)}, {point}, {}, false, /*create_graph=*/true)[0];
  return mg::autograd::grad({mg::sum(gradient * v)}, {point})[0];
}

void hessian_vector_products() {
  std::printf("Hessian-vector products\n");
  const Tensor x = f64({1, -2, 0.5}, {3}), v = f64({0.5, 1, -1}, {3});
  const Tensor hessian = hessian_by_hand(x);
  // The sums inside the two products run in different orders: allow rounding.
  expect_equal("H v by double backward", hessian_vector_product(x, v), mg::matmul(hessian, v), 1e-12);

  // The whole Hessian, a column H e_i at a time.
  std::vector<Tensor> columns;
  for (std::int64_t i = 0; i < 3; ++i) {
    Tensor e = mg::zeros({3}, mg::DType::Float64);
    e.select(0, i).fill_(1);
    columns.push_back(hessian_vector_product(x, e));
  }
  expect_equal("H from 3 products", mg::stack(columns, 1), hessian, 1e-12);
  std::printf("  H = %s\n", hessian.to_string().c_str());

  // The library's own check, against finite differences, of the same thing.
  const bool checked = mg::autograd::gradgradcheck([](const std::vector<Tensor>& in) { return f(in[0]); },
                                                   {x.detach().requires_grad_()});
  expect("gradgradcheck against finite differences", checked);
}

}  // namespace

int main() {
  try {
    tensors_and_broadcasting();
    first_derivatives();
    higher_derivatives();
    hessian_vector_products();
  } catch (const mg::Error& e) {
    std::fprintf(stderr, "tensors_autograd: error: %s\n", e.what());
    return 1;
  }
  if (failures > 0) {
    std::printf("%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
