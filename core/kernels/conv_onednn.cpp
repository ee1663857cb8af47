// float32 convolutions on oneDNN. Primitives are created once per shape and
// kept; weights are reordered into the layout the primitive prefers, and the
// reordered copy is reused while the weight tensor is unchanged.
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "../check.hpp"
#include "../profiling.hpp"
#include "conv.hpp"
#include "conv_reference.hpp"
#include "metagrad/core/ops.hpp"
#include "onednn.hpp"

namespace mg::kernels {
namespace {

using dnnl::memory;
using Dims = memory::dims;

dnnl::engine& engine() { return onednn_engine(); }
dnnl::stream& stream() { return onednn_stream(); }

// A memory descriptor for our tensor exactly as it is laid out.
memory::desc describe(const Tensor& t) {
  return memory::desc(Dims(t.shape().begin(), t.shape().end()), memory::data_type::f32,
                      Dims(t.strides().begin(), t.strides().end()));
}

// An activation laid out channels-last. A tensor with one channel (or one
// pixel) counts as channels-last whatever its strides say about the size-1
// dims, and oneDNN would read those strides as NCHW, for which it has only
// a reference kernel: the explicit tag says what the memory really is.
memory::desc describe_activation(const Tensor& t) {
  if (t.is_channels_last())
    return memory::desc(Dims(t.shape().begin(), t.shape().end()), memory::data_type::f32, memory::format_tag::nhwc);
  return describe(t);
}

// Weights (OC, IC/G, KH, KW) as oneDNN wants them: 5-D (G, OC/G, IC/G, KH, KW) when grouped.
memory::desc describe_weights(const Tensor& w, std::int64_t groups) {
  if (groups == 1) return describe(w);
  const auto& s = w.strides();
  const auto& d = w.shape();
  return memory::desc({groups, d[0] / groups, d[1], d[2], d[3]}, memory::data_type::f32,
                      {s[0] * (d[0] / groups), s[0], s[1], s[2], s[3]});
}

memory::desc any_weights(const Shape& w, std::int64_t groups) {
  Dims dims(w.begin(), w.end());
  if (groups > 1) dims = {groups, w[0] / groups, w[1], w[2], w[3]};
  return memory::desc(dims, memory::data_type::f32, memory::format_tag::any);
}

struct ConvDescs {
  memory::desc src, weights, dst;
  Dims strides, dilates, padding_l, padding_r;
};

ConvDescs conv_descs(const Tensor& x, const Shape& w, const Tensor& y, const ConvGeometry& g) {
  ConvDescs d;
  d.src = describe_activation(x);
  d.dst = describe_activation(y);
  d.weights = any_weights(w, g.groups);
  d.strides = {g.stride, g.stride};
  d.dilates = {g.dilation - 1, g.dilation - 1};
  d.padding_l = {g.padding, g.padding};
  // oneDNN wants the right padding that makes the output size exact.
  d.padding_r = Dims(2);
  for (int i = 0; i < 2; ++i) {
    const std::int64_t extent = (w[2 + i] - 1) * g.dilation + 1;
    d.padding_r[i] = (y.shape()[2 + i] - 1) * g.stride + extent - x.shape()[2 + i] - g.padding;
  }
  return d;
}

dnnl::convolution_forward::primitive_desc forward_pd(const ConvDescs& d, bool with_bias, std::int64_t oc,
                                                     ConvPostOps post = {}) {
  const memory::desc bias =
      with_bias ? memory::desc({oc}, memory::data_type::f32, memory::format_tag::a) : memory::desc();
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                             d.src, d.weights, bias, d.dst, d.strides, d.dilates, d.padding_l,
                                             d.padding_r);
  dnnl::post_ops ops;
  if (post.sum) ops.append_sum(1.0f);
  if (post.relu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  return {desc, attr, engine()};
}

std::string key_of(const char* kind, const Tensor& a, const Shape& w, const Tensor& c, const ConvGeometry& g,
                   bool with_bias) {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", kind, fmt::join(a.shape(), ","), fmt::join(a.strides(), ","),
                     fmt::join(w, ","), fmt::join(c.shape(), ","), fmt::join(c.strides(), ","), g.stride, g.padding,
                     g.dilation, g.groups, with_bias);
}

// oneDNN memory backed by a tensor from our caching allocator, so that
// steady-state training faults no fresh pages in.
struct Buffer {
  Tensor storage;
  memory mem;
};
Buffer make_buffer(const memory::desc& desc) {
  Tensor storage = Tensor::empty({static_cast<std::int64_t>((desc.get_size() + 3) / 4)}, DType::Float32);
  return Buffer{storage, memory(desc, engine(), storage.impl()->data())};
}

// Primitive descriptors and primitives, created once per configuration (see cached()).
struct Forward {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward primitive;
};
struct BackwardData {
  dnnl::convolution_backward_data::primitive_desc pd;
  dnnl::convolution_backward_data primitive;
};
struct BackwardWeights {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights primitive;
  Buffer diff_weights;  // in the primitive's layout, when that is not ours
};

// Weights in the layout `wanted`. The reordered copy of each weight tensor is
// kept with the storage version it was made from, and redone only when the
// weights change (an optimizer step), into the same buffer.
// `layout_key` names the primitive whose layout `wanted` is.
memory weights_as(const Tensor& w, std::int64_t groups, const memory::desc& wanted, const std::string& layout_key) {
  const memory::desc have = describe_weights(w, groups);
  memory user(have, engine(), w.impl()->data());
  if (have == wanted) return user;
  struct Reordered {
    std::uint64_t version;
    Buffer buffer;
  };
  using Key = std::tuple<std::uint64_t, std::int64_t, std::string>;
  static std::map<Key, Reordered> cache;
  const auto& storage = *w.impl()->storage;
  const Key key{storage.id(), w.impl()->offset, layout_key};
  std::lock_guard<std::mutex> lock(onednn_cache_mutex());
  auto it = cache.find(key);
  if (it != cache.end() && it->second.version == storage.version()) return it->second.buffer.mem;
  if (it == cache.end()) {
    if (cache.size() > 256) cache.clear();  // weights of models no longer in use
    it = cache.emplace(key, Reordered{storage.version(), make_buffer(wanted)}).first;
  }
  it->second.version = storage.version();
  dnnl::reorder(user, it->second.buffer.mem).execute(stream(), user, it->second.buffer.mem);
  return it->second.buffer.mem;
}

// Multiply-adds of a convolution with output y and weights of this shape, times 2.
double conv_flops(const Tensor& y, const Shape& weight) {
  return 2.0 * static_cast<double>(y.numel()) * static_cast<double>(shape_numel(weight) / weight[0]);
}

memory wrap(const Tensor& t) { return memory(describe_activation(t), engine(), t.impl()->data()); }

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const ConvGeometry& g,
                    ConvPostOps post) {
  const profiler::Scope scope(profiler::Kind::ConvForward, conv_flops(y, w.shape()), profiler::bytes_of(x, w, y));
  if (x.dtype() != DType::Float32) {
    Tensor out = post.sum || post.relu ? empty_like(y) : y;
    reference_conv2d_forward(x, w, b, out, g);
    if (post.sum) out = out + y;
    if (post.relu) out = relu(out);
    if (out.impl() != y.impl()) y.copy_(out);
    return;
  }
  static std::map<std::string, Forward> cache;
  const std::string key = fmt::format("{}|{}{}", key_of("fwd", x, w.shape(), y, g, b.defined()), post.sum, post.relu);
  const auto& entry = cached(cache, key, [&] {
    auto pd = forward_pd(conv_descs(x, w.shape(), y, g), b.defined(), w.size(0), post);
    return Forward{pd, dnnl::convolution_forward(pd)};
  });
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(x)},
                                       {DNNL_ARG_WEIGHTS, weights_as(w, g.groups, entry.pd.weights_desc(), key)},
                                       {DNNL_ARG_DST, wrap(y)}};
  Tensor bias;
  if (b.defined()) {
    bias = b.contiguous();
    args.emplace(DNNL_ARG_BIAS, wrap(bias));
  }
  entry.primitive.execute(stream(), args);
  stream().wait();
}

void conv2d_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx, const ConvGeometry& g) {
  const profiler::Scope scope(profiler::Kind::ConvBackwardData, conv_flops(gy, w.shape()),
                              profiler::bytes_of(gy, w, gx));
  if (gy.dtype() != DType::Float32) return reference_conv2d_backward_input(gy, w, gx, g);
  static std::map<std::string, BackwardData> cache;
  const std::string key = key_of("bwd_data", gx, w.shape(), gy, g, false);
  const auto& entry = cached(cache, key, [&] {
    const ConvDescs d = conv_descs(gx, w.shape(), gy, g);
    const auto hint = forward_pd(d, false, w.size(0));
    const dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weights, d.dst,
                                                     d.strides, d.dilates, d.padding_l, d.padding_r);
    dnnl::convolution_backward_data::primitive_desc pd(desc, engine(), hint);
    return BackwardData{pd, dnnl::convolution_backward_data(pd)};
  });
  entry.primitive.execute(stream(), {{DNNL_ARG_DIFF_DST, wrap(gy)},
                                     {DNNL_ARG_WEIGHTS, weights_as(w, g.groups, entry.pd.weights_desc(), key)},
                                     {DNNL_ARG_DIFF_SRC, wrap(gx)}});
  stream().wait();
}

void conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, const ConvGeometry& g) {
  const profiler::Scope scope(profiler::Kind::ConvBackwardWeights, conv_flops(gy, gw.shape()),
                              profiler::bytes_of(x, gy, gw));
  if (x.dtype() != DType::Float32) return reference_conv2d_backward_weight(x, gy, gw, g);
  static std::map<std::string, BackwardWeights> cache;
  const auto& entry = cached(cache, key_of("bwd_weights", x, gw.shape(), gy, g, false), [&] {
    const ConvDescs d = conv_descs(x, gw.shape(), gy, g);
    const auto hint = forward_pd(d, false, gw.size(0));
    const dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weights, d.dst,
                                                        d.strides, d.dilates, d.padding_l, d.padding_r);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, engine(), hint);
    return BackwardWeights{pd, dnnl::convolution_backward_weights(pd), make_buffer(pd.diff_weights_desc())};
  });
  const memory::desc wanted = describe_weights(gw, g.groups);
  const bool direct = entry.pd.diff_weights_desc() == wanted;
  memory diff_weights = direct ? memory(wanted, engine(), gw.impl()->data()) : entry.diff_weights.mem;
  entry.primitive.execute(
      stream(), {{DNNL_ARG_SRC, wrap(x)}, {DNNL_ARG_DIFF_DST, wrap(gy)}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights}});
  if (!direct) {
    memory out(wanted, engine(), gw.impl()->data());
    dnnl::reorder(diff_weights, out).execute(stream(), diff_weights, out);
  }
  stream().wait();
}

}  // namespace mg::kernels
