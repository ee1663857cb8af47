// conv2d and its two backward ops. Each one's gradient is written with the
// other two, so derivatives of any order stay on oneDNN.
#include "core/kernels/conv.hpp"
#include "layout.hpp"
#include "metagrad/core/nn_ops.hpp"
#include "op.hpp"

namespace mg {
namespace {

using kernels::ConvGeometry;

ConvGeometry geometry(std::int64_t stride, std::int64_t padding, std::int64_t dilation, std::int64_t groups,
                      const char* op) {
  MG_CHECK(stride >= 1 && padding >= 0 && dilation >= 1 && groups >= 1,
           "{}: expected stride >= 1, padding >= 0, dilation >= 1 and groups >= 1, got {}, {}, {}, {}", op, stride,
           padding, dilation, groups);
  return {stride, padding, dilation, groups};
}

std::int64_t output_size(std::int64_t in, std::int64_t kernel, const ConvGeometry& g) {
  return (in + 2 * g.padding - g.dilation * (kernel - 1) - 1) / g.stride + 1;
}

// Checks the shapes of an input, a weight and an output (any may be given
// as shapes only) and returns the output shape they imply.
Shape check_conv_shapes(const Shape& x, const Shape& w, const ConvGeometry& g, const char* op) {
  MG_CHECK(x.size() == 4, "{}: expected a 4-D (N, C, H, W) input, got shape {}", op, to_string(x));
  MG_CHECK(w.size() == 4, "{}: expected a 4-D (OC, C / groups, KH, KW) weight, got shape {}", op, to_string(w));
  MG_CHECK(w[0] % g.groups == 0, "{}: {} output channels do not split into {} groups", op, w[0], g.groups);
  MG_CHECK(x[1] == w[1] * g.groups,
           "{}: input of shape {} has {} channels, but weight of shape {} with groups={} expects {}", op, to_string(x),
           x[1], to_string(w), g.groups, w[1] * g.groups);
  const Shape y{x[0], w[0], output_size(x[2], w[2], g), output_size(x[3], w[3], g)};
  MG_CHECK(y[2] >= 1 && y[3] >= 1, "{}: input of shape {} is too small for kernel {}x{} (padding {}, dilation {})", op,
           to_string(x), w[2], w[3], g.padding, g.dilation);
  return y;
}

void check_floating(const Tensor& t, const char* what, const char* op) {
  MG_CHECK(t.defined(), "{}: {} is undefined", op, what);
  MG_CHECK(is_floating(t.dtype()), "{}: {} must be floating, got {}", op, what, dtype_name(t.dtype()));
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t stride, std::int64_t padding,
              std::int64_t dilation, std::int64_t groups) {
  const ConvGeometry g = geometry(stride, padding, dilation, groups, "conv2d");
  check_floating(x, "input", "conv2d");
  check_floating(w, "weight", "conv2d");
  MG_CHECK(x.dtype() == w.dtype(), "conv2d: input is {} but weight is {}", dtype_name(x.dtype()),
           dtype_name(w.dtype()));
  const Shape y_shape = check_conv_shapes(x.shape(), w.shape(), g, "conv2d");
  if (b.defined())
    MG_CHECK(b.shape() == Shape{w.size(0)} && b.dtype() == w.dtype(),
             "conv2d: bias of shape {} ({}) does not match {} output channels ({})", to_string(b.shape()),
             dtype_name(b.dtype()), w.size(0), dtype_name(w.dtype()));
  Tensor y = new_activation(y_shape, x.dtype());
  kernels::conv2d_forward(kernel_activation(x), w.detach().contiguous(), b.defined() ? b.detach() : Tensor(), y, g);
  return record("conv2d", {x, w, b}, y, [x, w, g](const BackwardArgs& in) {
    return Grads{in.needs(0) ? conv2d_backward_input(in.grad, w, x.shape(), g.stride, g.padding, g.dilation, g.groups)
                             : Tensor(),
                 in.needs(1) ? conv2d_backward_weight(x, in.grad, w.shape(), g.stride, g.padding, g.dilation, g.groups)
                             : Tensor(),
                 in.needs(2) ? sum(in.grad, {0, 2, 3}) : Tensor()};
  });
}

Tensor conv2d_inference(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t stride, std::int64_t padding,
                        const Tensor& residual, bool relu) {
  const ConvGeometry g = geometry(stride, padding, 1, 1, "conv2d_inference");
  check_floating(x, "input", "conv2d_inference");
  check_floating(w, "weight", "conv2d_inference");
  MG_CHECK(!autograd::any_requires_grad(std::vector<Tensor>{x, w, b, residual}.data(), 4),
           "conv2d_inference records no graph, but an input requires a gradient");
  MG_CHECK(x.dtype() == w.dtype() && (!b.defined() || (b.dtype() == w.dtype() && b.shape() == Shape{w.size(0)})),
           "conv2d_inference: input ({}), weight ({}) and bias must agree", dtype_name(x.dtype()),
           dtype_name(w.dtype()));
  const Shape y_shape = check_conv_shapes(x.shape(), w.shape(), g, "conv2d_inference");
  MG_CHECK(!residual.defined() || (residual.shape() == y_shape && residual.dtype() == x.dtype()),
           "conv2d_inference: residual of shape {} for an output of shape {}",
           residual.defined() ? to_string(residual.shape()) : "", to_string(y_shape));
  Tensor y = new_activation(y_shape, x.dtype());
  const Tensor laid_out_as_y = residual.defined() ? kernel_activation(residual) : Tensor();
  kernels::conv2d_forward(kernel_activation(x), w.contiguous(), b, y, g, {laid_out_as_y, relu});
  return y;
}

Tensor conv2d_backward_input(const Tensor& grad_output, const Tensor& w, const Shape& input_shape, std::int64_t stride,
                             std::int64_t padding, std::int64_t dilation, std::int64_t groups) {
  const ConvGeometry g = geometry(stride, padding, dilation, groups, "conv2d_backward_input");
  check_floating(grad_output, "grad_output", "conv2d_backward_input");
  check_floating(w, "weight", "conv2d_backward_input");
  const Shape expected = check_conv_shapes(input_shape, w.shape(), g, "conv2d_backward_input");
  MG_CHECK(grad_output.shape() == expected, "conv2d_backward_input: grad_output of shape {} should be {}",
           to_string(grad_output.shape()), to_string(expected));
  Tensor gx = new_activation(input_shape, grad_output.dtype());
  kernels::conv2d_backward_input(kernel_activation(grad_output), w.detach().contiguous(), gx, g);
  return record("conv2d_backward_input", {grad_output, w}, gx, [grad_output, w, g](const BackwardArgs& in) {
    return Grads{
        in.needs(0) ? conv2d(in.grad, w, Tensor(), g.stride, g.padding, g.dilation, g.groups) : Tensor(),
        in.needs(1) ? conv2d_backward_weight(in.grad, grad_output, w.shape(), g.stride, g.padding, g.dilation, g.groups)
                    : Tensor()};
  });
}

Tensor conv2d_backward_weight(const Tensor& x, const Tensor& grad_output, const Shape& weight_shape,
                              std::int64_t stride, std::int64_t padding, std::int64_t dilation, std::int64_t groups) {
  const ConvGeometry g = geometry(stride, padding, dilation, groups, "conv2d_backward_weight");
  check_floating(x, "input", "conv2d_backward_weight");
  check_floating(grad_output, "grad_output", "conv2d_backward_weight");
  const Shape expected = check_conv_shapes(x.shape(), weight_shape, g, "conv2d_backward_weight");
  MG_CHECK(grad_output.shape() == expected, "conv2d_backward_weight: grad_output of shape {} should be {}",
           to_string(grad_output.shape()), to_string(expected));
  Tensor gw = Tensor::empty(weight_shape, x.dtype());
  kernels::conv2d_backward_weight(kernel_activation(x), kernel_activation(grad_output), gw, g);
  return record("conv2d_backward_weight", {x, grad_output}, gw, [x, grad_output, g](const BackwardArgs& in) {
    return Grads{in.needs(0)
                     ? conv2d_backward_input(grad_output, in.grad, x.shape(), g.stride, g.padding, g.dilation, g.groups)
                     : Tensor(),
                 in.needs(1) ? conv2d(x, in.grad, Tensor(), g.stride, g.padding, g.dilation, g.groups) : Tensor()};
  });
}

}  // namespace mg
