// The collectives, checked on every rank against what the rank can compute
// alone: every rank knows what the others hold (a function of their rank).
#include "metagrad/core/distributed.hpp"

#include "../support/testing.hpp"

namespace mg {
namespace {

namespace dist = distributed;

double ranks_sum(double (*of_rank)(int)) {
  double total = 0;
  for (int r = 0; r < dist::world_size(); ++r) total += of_rank(r);
  return total;
}

TEST_CASE("shard splits n items into contiguous parts differing by at most one") {
  std::int64_t next = 0;
  for (int r = 0; r < 3; ++r) {
    const dist::Range part = dist::shard(10, r, 3);
    CHECK(part.begin == next);
    CHECK(part.end - part.begin == (r == 0 ? 4 : 3));
    next = part.end;
  }
  CHECK(next == 10);
  CHECK_THROWS_AS(dist::shard(10, 3, 3), Error);
}

TEST_CASE("all_reduce_ sums tensors over ranks, contiguous or not") {
  const double r = dist::rank() + 1;
  Tensor t = full({2, 3}, r, DType::Float64);
  dist::all_reduce_(t);
  const double expected = ranks_sum([](int k) { return k + 1.0; });
  for (double v : t.to_vector<double>()) CHECK(v == expected);

  Tensor strided = testing::non_contiguous(full({3, 2}, r));
  REQUIRE(!strided.is_contiguous());
  dist::all_reduce_(strided);
  for (double v : strided.to_vector<double>()) CHECK(v == expected);

  const std::vector<double> values = dist::all_reduce({r, 1.0});
  CHECK(values[0] == expected);
  CHECK(values[1] == dist::world_size());
  CHECK(dist::all_reduce_max(r) == dist::world_size());
}

TEST_CASE("broadcast copies the root's tensors and text to every rank") {
  std::vector<Tensor> tensors{full({4}, dist::rank() + 5.0), full({2, 2}, -dist::rank(), DType::Float64)};
  dist::broadcast_(tensors);
  for (double v : tensors[0].to_vector<double>()) CHECK(v == 5.0);
  for (double v : tensors[1].to_vector<double>()) CHECK(v == 0.0);
  CHECK(dist::broadcast(dist::rank() == 0 ? std::string("from the root") : std::string("x")) == "from the root");
  const std::vector<std::string> all = dist::all_gather(std::string(static_cast<std::size_t>(dist::rank() + 1), 'a'));
  REQUIRE(static_cast<int>(all.size()) == dist::world_size());
  for (int k = 0; k < dist::world_size(); ++k) CHECK(all[static_cast<std::size_t>(k)].size() == std::size_t(k + 1));
}

TEST_CASE("the differentiable all_reduce gives gradients of the sum of every rank's loss, to second order") {
  // Rank r holds x_r and the loss w_r * sum(all_reduce(x_r^2)), w_r = r + 1.
  // d(total)/dx_r = 2 x_r W with W the sum of the w; its derivative 2W.
  const double w = dist::rank() + 1, total_w = ranks_sum([](int k) { return k + 1.0; });
  Tensor x = Tensor::from_vector(std::vector<double>{0.5 + dist::rank(), -1.5}, {2}).requires_grad_();
  const Tensor loss = sum(dist::all_reduce(x * x)) * w;
  const Tensor g = autograd::grad({loss}, {x}, {}, false, true)[0];
  const std::vector<double> xs = x.to_vector<double>();
  testing::check_close(g.to_vector<double>(), {2 * xs[0] * total_w, 2 * xs[1] * total_w}, 1e-15, 0, "gradient");
  const Tensor gg = autograd::grad({sum(g)}, {x})[0];
  testing::check_close(gg.to_vector<double>(), {2 * total_w, 2 * total_w}, 1e-15, 0, "second derivative");
}

// Both paths of the op: channels-last input takes the fused kernels (their
// per-channel sums all-reduced), contiguous NCHW the differentiable ops; a
// second derivative always goes through the differentiable ops.
TEST_CASE("synchronized batch norm on shards equals batch norm on the whole batch, to second order") {
  Generator data(7);
  const Tensor whole = randn({6, 3, 4, 4}, data, DType::Float64) * 2.0 + 1.0;
  const Tensor direction = randn({6, 3, 4, 4}, data, DType::Float64);  // the loss is sum(y * direction)
  const Tensor probe = randn({6, 3, 4, 4}, data, DType::Float64);      // for a Hessian-vector product
  const dist::Range part = dist::shard(6, dist::rank(), dist::world_size());
  const auto mine = [&](const Tensor& t) { return t.narrow(0, part.begin, part.end - part.begin).contiguous(); };

  struct Result {
    Tensor y, gx, gweight, gbias, second_gx, hvp_weight, running_mean, running_var;
  };
  const auto run = [&](const Tensor& input, const Tensor& dir, const Tensor& v, bool synchronized) {
    Tensor x = input.clone().requires_grad_();
    Tensor weight = Tensor::from_vector(std::vector<double>{1.5, -0.5, 2.0}, {3}).requires_grad_();
    Tensor bias = Tensor::from_vector(std::vector<double>{0.1, 0.2, 0.3}, {3}).requires_grad_();
    Result r;
    r.running_mean = zeros({3}, DType::Float64);
    r.running_var = ones({3}, DType::Float64);
    r.y = synchronized ? dist::synchronized_batch_norm(x, r.running_mean, r.running_var, weight, bias, 0.1, 1e-5)
                       : batch_norm(x, r.running_mean, r.running_var, weight, bias, true, 0.1, 1e-5);
    const auto first = autograd::grad({sum(r.y * dir)}, {x, weight, bias}, {}, true);  // the plain backward
    r.gx = first[0];
    r.gweight = first[1];
    r.gbias = first[2];
    const auto grads = autograd::grad({sum(r.y * dir)}, {x, weight}, {}, false, true);
    r.second_gx = grads[0];
    r.hvp_weight = autograd::grad({sum(grads[0] * v)}, {weight})[0];
    return r;
  };
  for (const bool channels_last : {false, true}) {
    CAPTURE(channels_last);
    const auto layout = [&](const Tensor& t) { return channels_last ? t.channels_last() : t; };
    const Result reference = run(whole, direction, probe, false);
    Result shards = run(layout(mine(whole)), layout(mine(direction)), layout(mine(probe)), true);
    for (Tensor* parameter_gradient : {&shards.gweight, &shards.gbias, &shards.hvp_weight})
      dist::all_reduce_(*parameter_gradient);  // summed over ranks, as GradientReducer does
    testing::check_close(shards.y, mine(reference.y), 1e-12, 1e-12, "output");
    testing::check_close(shards.gx, mine(reference.gx), 1e-12, 1e-12, "input gradient");
    testing::check_close(shards.gweight, reference.gweight, 1e-12, 1e-12, "weight gradient");
    testing::check_close(shards.gbias, reference.gbias, 1e-12, 1e-12, "bias gradient");
    testing::check_close(shards.second_gx, mine(reference.second_gx), 1e-12, 1e-12, "input gradient with its graph");
    testing::check_close(shards.hvp_weight, reference.hvp_weight, 1e-10, 1e-10, "second order");
    testing::check_close(shards.running_mean, reference.running_mean, 1e-13, 1e-13, "running mean");
    testing::check_close(shards.running_var, reference.running_var, 1e-13, 1e-13, "running variance");
  }
}

TEST_CASE("GradientReducer sums gradients over ranks, whatever order buckets fill in") {
  // Parameter k's gradient on rank r is (r + 1) * (k + 1) everywhere;
  // buckets of 64 bytes hold a few parameters each.
  std::vector<Tensor> parameters;
  for (int k = 0; k < 6; ++k) parameters.push_back(zeros({k + 3}, DType::Float32).requires_grad_());
  Tensor unused = zeros({2}).requires_grad_();  // backward never reaches it: sums zeros
  parameters.push_back(unused);
  dist::GradientReducer reducer(parameters, 64);
  for (int pass = 0; pass < 2; ++pass) {
    Tensor loss = zeros({});
    // Reverse order on odd passes: buckets still start in their fixed order.
    for (int i = 0; i < 6; ++i) {
      const int k = pass % 2 == 0 ? i : 5 - i;
      loss = loss + sum(parameters[static_cast<std::size_t>(k)]) * ((dist::rank() + 1.0) * (k + 1));
    }
    for (Tensor& p : parameters) p.set_grad(Tensor());
    loss.backward();
    reducer.finish();
    const double ranks = ranks_sum([](int r) { return r + 1.0; });
    for (int k = 0; k < 6; ++k)
      for (double g : parameters[static_cast<std::size_t>(k)].grad().to_vector<double>()) CHECK(g == ranks * (k + 1));
    if (dist::world_size() > 1) {
      REQUIRE(unused.grad().defined());
      for (double g : unused.grad().to_vector<double>()) CHECK(g == 0.0);
    }
  }
  if (dist::world_size() > 1) {
    CHECK(reducer.timing().passes == 2);
    CHECK(reducer.timing().buckets >= 2 * 3);
    CHECK(reducer.timing().exposed_s <= reducer.timing().communication_s);
  }
}

TEST_CASE("GradientReducer refuses a second backward before finish") {
  if (dist::world_size() == 1) return;  // a world of one has nothing to reduce
  std::vector<Tensor> parameters{zeros({3}).requires_grad_()};
  dist::GradientReducer reducer(parameters);
  sum(parameters[0]).backward();
  CHECK_THROWS_WITH_AS(sum(parameters[0]).backward(), doctest::Contains("second gradient before finish()"), Error);
  reducer.finish();
}

}  // namespace
}  // namespace mg
