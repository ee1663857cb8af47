// float32 convolutions on oneDNN. Primitives are created once per shape and
// kept; weights are reordered into the layout the primitive prefers, and the
// reordered copy is reused while the weight tensor is unchanged.
//
// A stride-1 convolution, read backwards, is the backward-data pass of its
// transposed convolution (the activations' roles swapped, the weights with
// OC and IC swapped and the kernel flipped), and its backward-data pass is
// that convolution's forward. oneDNN 2.6's AVX-512 kernels for the two
// directions are not equally fast: the brgconv forward kernel beats the jit
// backward-data kernel by 5-15% when both channel counts are 32 or more, and
// loses to it by 15-40% when one is 16 or less (ResNet's first stage, an RGB
// input). So each such map from one activation to another runs on whichever
// primitive is the faster for its channels, a rule of the shape alone, so
// that the bits of a result never depend on timing. A forward with a bias,
// residual or ReLU that the backward-data kernel computes faster runs there
// too, its epilogue then a pass of its own (cheaper than the difference).
#include <dnnl.hpp>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "conv.hpp"
#include "conv_reference.hpp"
#include "core/check.hpp"
#include "core/profiling.hpp"
#include "metagrad/core/ops.hpp"
#include "onednn.hpp"
#include "rows.hpp"

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
                                                     const ConvEpilogue& then = {}) {
  const memory::desc bias =
      with_bias ? memory::desc({oc}, memory::data_type::f32, memory::format_tag::a) : memory::desc();
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                             d.src, d.weights, bias, d.dst, d.strides, d.dilates, d.padding_l,
                                             d.padding_r);
  dnnl::post_ops ops;
  if (then.residual.defined()) ops.append_sum(1.0f);  // the residual, copied into the output first
  if (then.relu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  dnnl::primitive_attr attr = caller_scratchpad();
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
  bool on_map = false;  // runs as run_map and then the epilogue as a pass of its own; pd, primitive unused
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward primitive;
};
struct BackwardWeights {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights primitive;
};

// The weights of the transposed convolution: (IC, OC, KH, KW), each kernel flipped.
Tensor flipped_transposed(const Tensor& w) {
  const Tensor in = w.contiguous();
  const auto& d = w.shape();
  Tensor out = Tensor::empty({d[1], d[0], d[2], d[3]}, DType::Float32);
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const std::int64_t taps = d[2] * d[3];
  for (std::int64_t o = 0; o < d[0]; ++o)
    for (std::int64_t i = 0; i < d[1]; ++i)
      for (std::int64_t t = 0; t < taps; ++t)
        dst[(i * d[0] + o) * taps + t] = src[(o * d[1] + i) * taps + taps - 1 - t];
  return out;
}

// Weights in the layout `wanted` (of the transposed convolution's weights when
// `transposed`). The reordered copy of each weight tensor is kept with the
// storage version it was made from, and redone only when the weights change
// (an optimizer step), into the same buffer. `layout_key` names the primitive
// whose layout `wanted` is. Each thread keeps its own copies, so that one
// thread's reorder (or clearing) never touches a buffer another is reading.
memory weights_as(const Tensor& w, std::int64_t groups, const memory::desc& wanted, const std::string& layout_key,
                  bool transposed = false) {
  if (!transposed && describe_weights(w, groups) == wanted) return memory(wanted, engine(), w.impl()->data());
  struct Reordered {
    std::uint64_t version;
    Buffer buffer;
  };
  using Key = std::tuple<std::uint64_t, std::int64_t, std::string>;
  thread_local std::map<Key, Reordered> cache;
  const auto& storage = *w.impl()->storage;
  const Key key{storage.id(), w.impl()->offset, layout_key};
  auto it = cache.find(key);
  if (it != cache.end() && it->second.version == storage.version()) return it->second.buffer.mem;
  if (it == cache.end()) {
    if (cache.size() > 256) cache.clear();  // weights of models no longer in use
    it = cache.emplace(key, Reordered{storage.version(), make_buffer(wanted)}).first;
  }
  it->second.version = storage.version();
  const Tensor source = transposed ? flipped_transposed(w) : w;
  memory user(describe_weights(source, groups), engine(), source.impl()->data());
  dnnl::reorder(user, it->second.buffer.mem).execute(stream(), user, it->second.buffer.mem);
  return it->second.buffer.mem;
}

// The two primitives that map one activation to another.
enum class Direction { Forward, BackwardData };

// Which primitive computes a map, on which convolution.
struct MapPlan {
  ConvDescs descs;  // of the convolution whose primitive runs
  Direction direction;
  bool transposed;  // descs are the transposed convolution's
};

// The transposed convolution of d (weights w): stride 1 only, and only while
// its padding, K - 1 - p on each side, is not negative.
std::optional<ConvDescs> transposed(const ConvDescs& d, const Shape& w, const ConvGeometry& g) {
  if (g.stride != 1 || g.dilation != 1 || g.groups != 1) return std::nullopt;
  ConvDescs t{d.dst, any_weights({w[1], w[0], w[2], w[3]}, 1), d.src, d.strides, d.dilates, Dims(2), Dims(2)};
  for (int i = 0; i < 2; ++i) {
    t.padding_l[i] = w[2 + i] - 1 - d.padding_l[i];
    t.padding_r[i] = w[2 + i] - 1 - d.padding_r[i];
    if (t.padding_l[i] < 0 || t.padding_r[i] < 0) return std::nullopt;
  }
  return t;
}

// The plan for the map convolution d (weights w) computes in `direction`.
MapPlan plan_map(const ConvDescs& d, const Shape& w, const ConvGeometry& g, Direction direction) {
  const Direction faster = std::min(w[0], w[1]) >= 32 ? Direction::Forward : Direction::BackwardData;
  if (direction != faster)
    if (const auto t = transposed(d, w, g)) return {*t, faster, true};
  return {d, direction, false};
}

struct MapPrimitive {
  dnnl::primitive primitive;
  memory::desc weights, scratchpad;
  int in_arg, out_arg;
  bool transposed;
};

MapPrimitive make_map(const MapPlan& plan) {
  const ConvDescs& d = plan.descs;
  const auto forward = forward_pd(d, false, 0);
  if (plan.direction == Direction::Forward)
    return {dnnl::convolution_forward(forward),
            forward.weights_desc(),
            forward.scratchpad_desc(),
            DNNL_ARG_SRC,
            DNNL_ARG_DST,
            plan.transposed};
  const dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weights, d.dst,
                                                   d.strides, d.dilates, d.padding_l, d.padding_r);
  const dnnl::convolution_backward_data::primitive_desc pd(desc, caller_scratchpad(), engine(), forward);
  return {dnnl::convolution_backward_data(pd),
          pd.weights_desc(),
          pd.scratchpad_desc(),
          DNNL_ARG_DIFF_DST,
          DNNL_ARG_DIFF_SRC,
          plan.transposed};
}

// Multiply-adds of a convolution with output y and weights of this shape, times 2.
double conv_flops(const Tensor& y, const Shape& weight) {
  return 2.0 * static_cast<double>(y.numel()) * static_cast<double>(shape_numel(weight) / weight[0]);
}

memory wrap(const Tensor& t) { return memory(describe_activation(t), engine(), t.impl()->data()); }

// The descriptors of the convolution (weights w) that maps `in` to `out` in `direction`.
ConvDescs map_descs(const Tensor& in, const Shape& w, const Tensor& out, const ConvGeometry& g, Direction direction) {
  return direction == Direction::Forward ? conv_descs(in, w, out, g) : conv_descs(out, w, in, g);
}

// out = the map from `in` that the convolution with weights w computes in
// `direction`, on the faster primitive (see the top of the file).
void run_map(const Tensor& in, const Tensor& w, const Tensor& out, const ConvGeometry& g, Direction direction,
             const std::string& key) {
  static PrimitiveCache<std::string, MapPrimitive> cache;
  const auto& map = cached(cache, key, [&] {
    return make_map(plan_map(map_descs(in, w.shape(), out, g, direction), w.shape(), g, direction));
  });
  execute(map.primitive, map.scratchpad,
          {{map.in_arg, wrap(in)},
           {DNNL_ARG_WEIGHTS, weights_as(w, g.groups, map.weights, key, map.transposed)},
           {map.out_arg, wrap(out)}});
}

// y = relu(y + bias + residual), each part when present, in one pass over
// y's [M, C] rows (channels-last; the residual laid out as y).
void add_bias_residual_relu(Tensor& y, const Tensor& bias, const ConvEpilogue& then) {
  const std::int64_t channels = y.size(1), m = y.numel() / channels;
  const std::vector<float> b =
      bias.defined() ? bias.to_vector<float>() : std::vector<float>(static_cast<std::size_t>(channels), 0.0f);
  float* out = y.data_ptr<float>();
  const float* residual = then.residual.defined() ? then.residual.data_ptr<float>() : nullptr;
  with_channel_count(channels, [&](auto fixed) {
    with_flags(residual != nullptr, then.relu, [&](auto with_residual, auto relu) {
      for_each_element<decltype(fixed)::value>(m, channels, [&](std::int64_t i, std::size_t c) {
        float v = out[i] + b[c];
        if constexpr (decltype(with_residual)::value) v += residual[i];
        if constexpr (decltype(relu)::value) v = v > 0.0f ? v : 0.0f;
        out[i] = v;
      });
    });
  });
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const ConvGeometry& g,
                    const ConvEpilogue& then) {
  const profiler::Scope scope(profiler::Kind::ConvForward, conv_flops(y, w.shape()),
                              profiler::bytes_of(x, w, y, then.residual));
  if (x.dtype() != DType::Float32) {
    Tensor out = then.residual.defined() || then.relu ? empty_like(y) : y;
    reference_conv2d_forward(x, w, b, out, g);
    if (then.residual.defined()) out = out + then.residual;
    if (then.relu) out = relu(out);
    if (out.impl() != y.impl()) y.copy_(out);
    return;
  }
  const std::string map_key = key_of("fwd", x, w.shape(), y, g, false);
  if (!b.defined() && !then.residual.defined() && !then.relu) return run_map(x, w, y, g, Direction::Forward, map_key);
  static PrimitiveCache<std::string, Forward> cache;
  const std::string key =
      fmt::format("{}|{}{}", key_of("fwd", x, w.shape(), y, g, b.defined()), then.residual.defined(), then.relu);
  const auto& entry = cached(cache, key, [&] {
    const ConvDescs d = conv_descs(x, w.shape(), y, g);
    // A map the transposed convolution's backward-data computes faster than
    // the forward does with its epilogue fused: the epilogue as a pass of its own.
    if (plan_map(d, w.shape(), g, Direction::Forward).transposed) return Forward{true, {}, {}};
    auto pd = forward_pd(d, b.defined(), w.size(0), then);
    return Forward{false, pd, dnnl::convolution_forward(pd)};
  });
  if (entry.on_map) {
    run_map(x, w, y, g, Direction::Forward, map_key);
    return add_bias_residual_relu(y, b, then);
  }
  if (then.residual.defined()) y.copy_(then.residual);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(x)},
                                       {DNNL_ARG_WEIGHTS, weights_as(w, g.groups, entry.pd.weights_desc(), key)},
                                       {DNNL_ARG_DST, wrap(y)}};
  Tensor bias;
  if (b.defined()) {
    bias = b.contiguous();
    args.emplace(DNNL_ARG_BIAS, wrap(bias));
  }
  execute(entry.primitive, entry.pd.scratchpad_desc(), args);
}

void conv2d_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx, const ConvGeometry& g) {
  const profiler::Scope scope(profiler::Kind::ConvBackwardData, conv_flops(gy, w.shape()),
                              profiler::bytes_of(gy, w, gx));
  if (gy.dtype() != DType::Float32) return reference_conv2d_backward_input(gy, w, gx, g);
  run_map(gy, w, gx, g, Direction::BackwardData, key_of("bwd_data", gx, w.shape(), gy, g, false));
}

void conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, const ConvGeometry& g) {
  const profiler::Scope scope(profiler::Kind::ConvBackwardWeights, conv_flops(gy, gw.shape()),
                              profiler::bytes_of(x, gy, gw));
  if (x.dtype() != DType::Float32) return reference_conv2d_backward_weight(x, gy, gw, g);
  static PrimitiveCache<std::string, BackwardWeights> cache;
  const auto& entry = cached(cache, key_of("bwd_weights", x, gw.shape(), gy, g, false), [&] {
    const ConvDescs d = conv_descs(x, gw.shape(), gy, g);
    const auto hint = forward_pd(d, false, gw.size(0));
    const dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, d.src, d.weights, d.dst,
                                                        d.strides, d.dilates, d.padding_l, d.padding_r);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, caller_scratchpad(), engine(), hint);
    return BackwardWeights{pd, dnnl::convolution_backward_weights(pd)};
  });
  const memory::desc wanted = describe_weights(gw, g.groups);
  const bool direct = entry.pd.diff_weights_desc() == wanted;
  // In the primitive's layout, when that is not ours: a buffer of this call's own.
  const Buffer staging = direct ? Buffer{} : make_buffer(entry.pd.diff_weights_desc());
  memory diff_weights = direct ? memory(wanted, engine(), gw.impl()->data()) : staging.mem;
  execute(entry.primitive, entry.pd.scratchpad_desc(),
          {{DNNL_ARG_SRC, wrap(x)}, {DNNL_ARG_DIFF_DST, wrap(gy)}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights}});
  if (!direct) {
    memory out(wanted, engine(), gw.impl()->data());
    dnnl::reorder(diff_weights, out).execute(stream(), diff_weights, out);
    stream().wait();
  }
}

}  // namespace mg::kernels
