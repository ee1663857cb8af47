// Pooling ops. Max pooling's gradient is a scatter to the argmax indices and
// the scatter's gradient is the matching gather; average pooling and its
// backward are each other's transposes. So every order of derivative exists.
#include "core/kernels/pool.hpp"
#include "layout.hpp"
#include "metagrad/core/nn_ops.hpp"
#include "op.hpp"

namespace mg {
namespace {

using kernels::PoolGeometry;

PoolGeometry pool_geometry(const Shape& x, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                           const char* op) {
  MG_CHECK(x.size() == 4, "{}: expected a 4-D (N, C, H, W) input, got shape {}", op, to_string(x));
  if (stride < 1) stride = kernel;
  MG_CHECK(kernel >= 1 && padding >= 0 && 2 * padding <= kernel,
           "{}: expected kernel >= 1 and 0 <= padding <= kernel / 2, got kernel {} and padding {}", op, kernel,
           padding);
  const PoolGeometry g{kernel, stride, padding};
  MG_CHECK(x[2] + 2 * padding >= kernel && x[3] + 2 * padding >= kernel,
           "{}: input of shape {} is smaller than the {}x{} window", op, to_string(x), kernel, kernel);
  return g;
}

Shape pooled_shape(const Shape& x, const PoolGeometry& g) {
  return {x[0], x[1], (x[2] + 2 * g.padding - g.kernel) / g.stride + 1,
          (x[3] + 2 * g.padding - g.kernel) / g.stride + 1};
}

void check_floating(const Tensor& x, const char* op) {
  MG_CHECK(x.defined() && is_floating(x.dtype()), "{}: expected a floating tensor", op);
}

// The values of `src` at the argmax `indices` (the gradient of max_pool2d_backward).
Tensor max_pool2d_gather(const Tensor& src, const Tensor& indices, const PoolGeometry& g) {
  Tensor out = new_activation(indices.shape(), src.dtype());
  kernels::max_pool2d_gather(kernel_activation(src), indices, out);
  const Shape src_shape = src.shape();
  return record("max_pool2d_gather", {src}, out, [indices, src_shape, g](const BackwardArgs& in) {
    return Grads{max_pool2d_backward(in.grad, indices, src_shape, g.kernel, g.stride, g.padding)};
  });
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, std::int64_t kernel, std::int64_t stride,
                                                  std::int64_t padding) {
  check_floating(x, "max_pool2d");
  const PoolGeometry g = pool_geometry(x.shape(), kernel, stride, padding, "max_pool2d");
  const Shape shape = pooled_shape(x.shape(), g);
  Tensor y = new_activation(shape, x.dtype());
  Tensor indices = Tensor::empty(shape, DType::Int64);
  indices.impl()->strides = y.strides();
  kernels::max_pool2d_forward(kernel_activation(x), y, &indices, g);
  const Shape input_shape = x.shape();
  y = record("max_pool2d", {x}, y, [indices, input_shape, g](const BackwardArgs& in) {
    return Grads{max_pool2d_backward(in.grad, indices, input_shape, g.kernel, g.stride, g.padding)};
  });
  return {y, indices};
}

Tensor max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  if (autograd::any_requires_grad(&x, 1)) return max_pool2d_with_indices(x, kernel, stride, padding).first;
  // No gradient wanted: the maxima alone.
  check_floating(x, "max_pool2d");
  const PoolGeometry g = pool_geometry(x.shape(), kernel, stride, padding, "max_pool2d");
  Tensor y = new_activation(pooled_shape(x.shape(), g), x.dtype());
  kernels::max_pool2d_forward(kernel_activation(x), y, nullptr, g);
  return y;
}

Tensor max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape,
                           std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  check_floating(grad_output, "max_pool2d_backward");
  const PoolGeometry g = pool_geometry(input_shape, kernel, stride, padding, "max_pool2d_backward");
  MG_CHECK(grad_output.shape() == pooled_shape(input_shape, g),
           "max_pool2d_backward: grad_output of shape {} does not match the pooled shape {}",
           to_string(grad_output.shape()), to_string(pooled_shape(input_shape, g)));
  MG_CHECK(indices.defined() && indices.shape() == grad_output.shape() && indices.dtype() == DType::Int64,
           "max_pool2d_backward: expected int64 indices of grad_output's shape {}", to_string(grad_output.shape()));
  Tensor gx = new_activation(input_shape, grad_output.dtype());
  kernels::max_pool2d_scatter(kernel_activation(grad_output), indices, gx, g);
  return record("max_pool2d_backward", {grad_output}, gx,
                [indices, g](const BackwardArgs& in) { return Grads{max_pool2d_gather(in.grad, indices, g)}; });
}

Tensor avg_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  check_floating(x, "avg_pool2d");
  const PoolGeometry g = pool_geometry(x.shape(), kernel, stride, padding, "avg_pool2d");
  Tensor y = new_activation(pooled_shape(x.shape(), g), x.dtype());
  kernels::avg_pool2d_forward(kernel_activation(x), y, g);
  const Shape input_shape = x.shape();
  return record("avg_pool2d", {x}, y, [input_shape, g](const BackwardArgs& in) {
    return Grads{avg_pool2d_backward(in.grad, input_shape, g.kernel, g.stride, g.padding)};
  });
}

Tensor avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape, std::int64_t kernel,
                           std::int64_t stride, std::int64_t padding) {
  check_floating(grad_output, "avg_pool2d_backward");
  const PoolGeometry g = pool_geometry(input_shape, kernel, stride, padding, "avg_pool2d_backward");
  MG_CHECK(grad_output.shape() == pooled_shape(input_shape, g),
           "avg_pool2d_backward: grad_output of shape {} does not match the pooled shape {}",
           to_string(grad_output.shape()), to_string(pooled_shape(input_shape, g)));
  Tensor gx = new_activation(input_shape, grad_output.dtype());
  kernels::avg_pool2d_backward(kernel_activation(grad_output), gx, g);
  return record("avg_pool2d_backward", {grad_output}, gx,
                [g](const BackwardArgs& in) { return Grads{avg_pool2d(in.grad, g.kernel, g.stride, g.padding)}; });
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::int64_t out_height, std::int64_t out_width) {
  check_floating(x, "adaptive_avg_pool2d");
  MG_CHECK(x.dim() == 4, "adaptive_avg_pool2d: expected a 4-D (N, C, H, W) input, got shape {}", to_string(x.shape()));
  MG_CHECK(out_height >= 1 && out_width >= 1, "adaptive_avg_pool2d: output size must be positive, got {}x{}",
           out_height, out_width);
  Tensor y = new_activation({x.size(0), x.size(1), out_height, out_width}, x.dtype());
  kernels::adaptive_avg_pool2d_forward(kernel_activation(x), y);
  const Shape input_shape = x.shape();
  return record("adaptive_avg_pool2d", {x}, y, [input_shape](const BackwardArgs& in) {
    return Grads{adaptive_avg_pool2d_backward(in.grad, input_shape)};
  });
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape) {
  check_floating(grad_output, "adaptive_avg_pool2d_backward");
  MG_CHECK(grad_output.dim() == 4 && input_shape.size() == 4,
           "adaptive_avg_pool2d_backward: expected 4-D shapes, got {} and {}", to_string(grad_output.shape()),
           to_string(input_shape));
  Tensor gx = new_activation(input_shape, grad_output.dtype());
  kernels::adaptive_avg_pool2d_backward(kernel_activation(grad_output), gx);
  const std::int64_t oh = grad_output.size(2), ow = grad_output.size(3);
  return record("adaptive_avg_pool2d_backward", {grad_output}, gx,
                [oh, ow](const BackwardArgs& in) { return Grads{adaptive_avg_pool2d(in.grad, oh, ow)}; });
}

}  // namespace mg
