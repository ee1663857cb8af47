// Tensors: construction, views and storage sharing, dtypes, RNG determinism,
// threading, and the errors bad input gets.
#include <thread>

#include "../support/testing.hpp"

using mg::Tensor;

TEST_CASE("from_vector, to_vector and item round-trip every dtype") {
  const Tensor f = Tensor::from_vector(std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f}, {2, 3});
  CHECK(f.dtype() == mg::DType::Float32);
  CHECK(f.shape() == mg::Shape{2, 3});
  CHECK(f.numel() == 6);
  CHECK(f.dim() == 2);
  CHECK(f.to_vector() == std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f});
  CHECK(f.to_vector<double>()[2] == 3.25);
  const Tensor d = Tensor::from_vector(std::vector<double>{0.1}, {});
  CHECK(d.item<double>() == 0.1);
  CHECK(d.item() == 0.1f);
  const Tensor i = Tensor::from_vector(std::vector<std::int64_t>{7, -3}, {2});
  CHECK(i.dtype() == mg::DType::Int64);
  CHECK(i.to_vector<std::int64_t>() == std::vector<std::int64_t>{7, -3});
  CHECK(i.to(mg::DType::Float32).to_vector() == std::vector<float>{7, -3});
}

TEST_CASE("factories") {
  CHECK(mg::zeros({2, 2}).to_vector() == std::vector<float>(4, 0.0f));
  CHECK(mg::ones({3}, mg::DType::Float64).to_vector<double>() == std::vector<double>(3, 1.0));
  CHECK(mg::full({2}, 2.5).to_vector() == std::vector<float>{2.5f, 2.5f});
  CHECK(mg::arange(0.0, 1.0, 0.25).to_vector() == std::vector<float>{0, 0.25f, 0.5f, 0.75f});
  CHECK(mg::arange(4).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3});
  const Tensor t = mg::ones({2, 3}, mg::DType::Float64);
  CHECK(mg::zeros_like(t).dtype() == mg::DType::Float64);
  CHECK(mg::ones_like(t).shape() == mg::Shape{2, 3});
  CHECK(mg::full_like(t, 3.0).to_vector<double>()[5] == 3.0);
  CHECK(Tensor::empty({0, 3}).numel() == 0);
  CHECK_FALSE(Tensor().defined());
}

TEST_CASE("views share storage; contiguous() and clone() copy") {
  const Tensor base = mg::arange(0.0, 12.0).reshape({3, 4});
  const Tensor t = base.transpose(0, 1);
  CHECK(t.shape() == mg::Shape{4, 3});
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.shares_storage_with(base));
  CHECK(t.to_vector() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  const Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK_FALSE(c.shares_storage_with(base));
  CHECK(base.contiguous().shares_storage_with(base));
  CHECK(base.narrow(1, 1, 2).to_vector() == std::vector<float>{1, 2, 5, 6, 9, 10});
  CHECK(base.slice(1, 0, 4, 3).to_vector() == std::vector<float>{0, 3, 4, 7, 8, 11});
  CHECK(base.slice(0, -2, 100).to_vector() == std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11});
  CHECK(base.select(0, -1).to_vector() == std::vector<float>{8, 9, 10, 11});
  CHECK(base.permute({1, 0}).to_vector() == t.to_vector());
  CHECK(base.unsqueeze(1).shape() == mg::Shape{3, 1, 4});
  CHECK(base.unsqueeze(-1).shape() == mg::Shape{3, 4, 1});
  CHECK(base.unsqueeze(1).squeeze().shape() == mg::Shape{3, 4});
  CHECK(base.reshape({-1}).shape() == mg::Shape{12});
  CHECK(base.reshape({2, -1, 2}).shape() == mg::Shape{2, 3, 2});
  CHECK(t.reshape({12}).to_vector() == c.to_vector());
  CHECK(base.flatten().shape() == mg::Shape{12});
  const Tensor e = Tensor::from_vector(std::vector<float>{1, 2}, {2, 1}).expand({2, 3});
  CHECK(e.to_vector() == std::vector<float>{1, 1, 1, 2, 2, 2});
  CHECK(e.strides()[1] == 0);
}

TEST_CASE("from_blob views memory another library owns, writes through it and holds its owner") {
  auto memory = std::make_shared<std::vector<double>>(std::vector<double>{1, 2, 3, 4, 5, 6});
  std::weak_ptr<std::vector<double>> watch = memory;
  const double* raw = memory->data();
  {
    Tensor t = Tensor::from_blob(memory->data(), {2, 3}, mg::DType::Float64, memory);
    Tensor row = t.narrow(0, 1, 1);
    memory.reset();  // the tensor and its views keep it alive
    REQUIRE_FALSE(watch.expired());
    CHECK(t.to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
    row.fill_(9.0);
    CHECK(raw[4] == 9.0);  // written in place, in the owner's memory
    t = Tensor();
    CHECK_FALSE(watch.expired());
  }
  CHECK(watch.expired());
  double x = 0;
  CHECK_THROWS_WITH_AS(Tensor::from_blob(&x, {1}, mg::DType::Float64, nullptr), doctest::Contains("needs an owner"),
                       mg::Error);
}

TEST_CASE("in-place fill_, zero_ and copy_ write through views") {
  Tensor base = mg::zeros({2, 3});
  base.narrow(1, 1, 1).fill_(5.0);
  CHECK(base.to_vector() == std::vector<float>{0, 5, 0, 0, 5, 0});
  base.transpose(0, 1).copy_(Tensor::from_vector(std::vector<double>{1, 2}, {2}).expand({3, 2}));
  CHECK(base.to_vector() == std::vector<float>{1, 1, 1, 2, 2, 2});
  base.zero_();
  CHECK(base.to_vector() == std::vector<float>(6, 0.0f));
  CHECK_THROWS_WITH_AS(base.copy_(mg::ones({4})), doctest::Contains("[4]"), mg::Error);

  Tensor leaf = mg::ones({2}).requires_grad_();
  CHECK_THROWS_WITH_AS(leaf.fill_(0.0), doctest::Contains("NoGradGuard"), mg::Error);
  CHECK_THROWS_WITH_AS(leaf.copy_(mg::zeros({2})), doctest::Contains("NoGradGuard"), mg::Error);
  {
    mg::NoGradGuard no_grad;
    leaf.copy_(mg::zeros({2}));
  }
  CHECK(leaf.to_vector() == std::vector<float>{0, 0});
  CHECK_THROWS_WITH_AS(leaf.set_grad(mg::zeros({2}, mg::DType::Float64)), doctest::Contains("float64"), mg::Error);
}

TEST_CASE("random numbers are deterministic for a seed and independent of the thread count") {
  mg::Generator a(42), b(42), c(43);
  const Tensor x = mg::randn({1000}, a);
  CHECK(x.to_vector() == mg::randn({1000}, b).to_vector());
  CHECK(x.to_vector() != mg::randn({1000}, c).to_vector());
  CHECK(mg::randn({1000}, a).to_vector() != x.to_vector());  // the stream advances

  const int threads = mg::get_num_threads();
  mg::set_num_threads(1);
  mg::Generator g1(5);
  const auto one_thread = mg::rand({100000}, g1).to_vector();
  mg::set_num_threads(2);
  mg::Generator g2(5);
  const auto two_threads = mg::rand({100000}, g2).to_vector();
  mg::set_num_threads(threads);
  CHECK(one_thread == two_threads);

  mg::manual_seed(9);
  const auto first = mg::rand({8}).to_vector();
  mg::manual_seed(9);
  CHECK(mg::rand({8}).to_vector() == first);
}

TEST_CASE("rand and randn have the right distribution") {
  mg::Generator g(1);
  const auto u = mg::rand({200000}, g, mg::DType::Float64).to_vector<double>();
  double mean = 0, low = 1, high = 0;
  for (double v : u) {
    mean += v;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  mean /= static_cast<double>(u.size());
  CHECK(mean == doctest::Approx(0.5).epsilon(0.01));
  CHECK(low >= 0.0);
  CHECK(high < 1.0);
  const Tensor n = mg::randn({200000}, g);
  CHECK(mg::mean(n).item() == doctest::Approx(0.0f).epsilon(0.01));
  CHECK(mg::mean(n * n).item() == doctest::Approx(1.0f).epsilon(0.01));
}

TEST_CASE("large elementwise ops and reductions agree across thread counts") {
  mg::Generator g(3);
  const Tensor x = mg::randn({300, 700}, g);
  const int threads = mg::get_num_threads();
  mg::set_num_threads(1);
  const auto s1 = mg::sum(mg::tanh(x) * x, 0).to_vector();
  const auto e1 = mg::exp(x.t()).to_vector();
  const float total1 = mg::sum(x).item();
  mg::set_num_threads(2);
  const auto s2 = mg::sum(mg::tanh(x) * x, 0).to_vector();
  const auto e2 = mg::exp(x.t()).to_vector();
  const float total2 = mg::sum(x).item();
  mg::set_num_threads(threads);
  CHECK(s1 == s2);
  CHECK(e1 == e2);
  CHECK(total1 == total2);
  CHECK(total1 == doctest::Approx(mg::sum(x.to(mg::DType::Float64)).item<double>()).epsilon(1e-6));
  CHECK_THROWS_AS(mg::set_num_threads(0), mg::Error);
}

TEST_CASE("vectorised transcendental functions give the same values for any thread count") {
  mg::Generator g(8);
  for (auto dtype : {mg::DType::Float32, mg::DType::Float64}) {
    const Tensor x = mg::randn({1000003}, g, dtype);  // odd: every split leaves remainders
    const auto run = [&] {
      return std::vector<std::vector<double>>{mg::exp(x).to_vector<double>(), mg::tanh(x).to_vector<double>(),
                                              mg::sigmoid(x).to_vector<double>(),
                                              mg::log(mg::abs(x) + 0.5).to_vector<double>()};
    };
    const int threads = mg::get_num_threads();
    mg::set_num_threads(1);
    const auto one = run();
    mg::set_num_threads(2);
    const auto two = run();
    mg::set_num_threads(threads);
    CHECK(one == two);
    // and within a few ulp of the scalar libm values
    const auto e = one[0];
    const auto xs = x.to_vector<double>();
    double worst = 0;
    for (std::size_t i = 0; i < xs.size(); i += 997) worst = std::max(worst, std::abs(e[i] / std::exp(xs[i]) - 1));
    CHECK(worst < (dtype == mg::DType::Float32 ? 1e-6 : 1e-14));
  }
}

TEST_CASE("float32 sums of many elements stay accurate") {
  const Tensor x = mg::full({1 << 22}, 0.1);
  CHECK(mg::sum(x).item<double>() == doctest::Approx(419430.4).epsilon(1e-7));
}

TEST_CASE("bad input throws mg::Error naming the shapes") {
  const Tensor a = mg::ones({2, 3}), b = mg::ones({4, 3});
  CHECK_THROWS_WITH_AS(a + b, doctest::Contains("[2, 3] and [4, 3]"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::matmul(a, b), doctest::Contains("[2, 3] and [4, 3]"), mg::Error);
  CHECK_THROWS_WITH_AS(a.item(), doctest::Contains("[2, 3]"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::sum(a, 2), doctest::Contains("dim 2 is out of range"), mg::Error);
  CHECK_THROWS_WITH_AS(a.transpose(0, -3), doctest::Contains("out of range"), mg::Error);
  CHECK_THROWS_WITH_AS(a.reshape({4, 2}), doctest::Contains("[4, 2]"), mg::Error);
  CHECK_THROWS_WITH_AS(a.expand({3, 3}), doctest::Contains("[2, 3]"), mg::Error);
  CHECK_THROWS_WITH_AS(a.transpose(0, 1).view({6}), doctest::Contains("reshape"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::cat({a, mg::ones({2, 2})}, 0), doctest::Contains("[2, 2]"), mg::Error);
  CHECK_THROWS_WITH_AS(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}), doctest::Contains("[2, 2]"),
                       mg::Error);
  const Tensor index = Tensor::from_vector(std::vector<std::int64_t>{0, 5}, {2});
  CHECK_THROWS_WITH_AS(mg::index_select(a, 1, index), doctest::Contains("index 5 is out of range"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::index_select(a, 1, mg::ones({2})), doctest::Contains("int64"), mg::Error);
  CHECK_THROWS_WITH_AS(a.data_ptr<double>(), doctest::Contains("float32"), mg::Error);
  CHECK_THROWS_WITH_AS(Tensor().shape(), doctest::Contains("undefined"), mg::Error);
  CHECK_THROWS_WITH_AS(a + Tensor(), doctest::Contains("undefined"), mg::Error);
  CHECK_THROWS_AS(mg::rand({2}, mg::DType::Int64), mg::Error);
}

TEST_CASE("dtype promotion") {
  const Tensor f = mg::ones({2}), d = mg::ones({2}, mg::DType::Float64), i = mg::ones({2}, mg::DType::Int64);
  CHECK((f + d).dtype() == mg::DType::Float64);
  CHECK((f + i).dtype() == mg::DType::Float32);
  CHECK((i + i).dtype() == mg::DType::Int64);
  CHECK((i * 2.0).dtype() == mg::DType::Int64);
  CHECK((i * 2.5).dtype() == mg::DType::Float32);
  CHECK(mg::exp(i).dtype() == mg::DType::Float32);
  CHECK((i * 2.5).to_vector() == std::vector<float>{2.5f, 2.5f});
}

TEST_CASE("the caching allocator reuses freed blocks") {
  { const Tensor warm = mg::empty_like(mg::ones({1 << 20})); }
  const auto before = mg::allocator_stats();
  for (int i = 0; i < 10; ++i) {
    const Tensor t = mg::ones({1 << 20});
    CHECK(t.numel() == 1 << 20);
  }
  CHECK(mg::allocator_stats().system_allocations == before.system_allocations);
}

TEST_CASE("small blocks freed on other threads are reused, and every byte is accounted for") {
  // Small blocks wait in the freeing thread's own cache; a thread that ends
  // hands its cache back to the shared pool, so nothing is lost or leaked.
  const auto before = mg::allocator_stats();
  {
    std::vector<Tensor> made(64);
    std::thread worker([&] {
      for (auto& t : made) t = mg::ones({1000});  // ~4 KB each
    });
    worker.join();
    CHECK(mg::allocator_stats().bytes_in_use >= before.bytes_in_use + 64 * 4000);
    std::thread freer([&] { made.clear(); });  // freed into the freer's cache, which ends with it
    freer.join();
  }
  const auto after_threads = mg::allocator_stats();
  CHECK(after_threads.bytes_in_use == before.bytes_in_use);
  CHECK(after_threads.bytes_cached >= before.bytes_cached + 64 * 4000);
  // The shared pool now serves this thread without the system.
  {
    std::vector<Tensor> again;
    for (int i = 0; i < 64; ++i) again.push_back(mg::ones({1000}));
    CHECK(mg::allocator_stats().system_allocations == after_threads.system_allocations);
  }
  // empty_cache gives back the shared pool and this thread's cache.
  mg::empty_cache();
  CHECK(mg::allocator_stats().bytes_cached == 0);
  CHECK(mg::allocator_stats().bytes_in_use == before.bytes_in_use);
}

TEST_CASE("channels-last tensors keep their layout through elementwise ops and reduce without copies") {
  mg::Generator g(4);
  const Tensor x = mg::randn({2, 3, 4, 5}, g, mg::DType::Float64);
  const Tensor cl = x.channels_last();
  CHECK(cl.is_channels_last());
  CHECK_FALSE(x.is_channels_last());
  CHECK(cl.strides() == mg::Shape{60, 1, 15, 3});
  CHECK(cl.to_vector<double>() == x.to_vector<double>());
  const Tensor bias = mg::randn({1, 3, 1, 1}, g, mg::DType::Float64);
  const Tensor y = mg::relu(cl * 2.0 + bias);
  CHECK(y.is_channels_last());
  CHECK(y.to_vector<double>() == mg::relu(x * 2.0 + bias).to_vector<double>());
  // A broadcast operand has no layout of its own, even when it comes first
  // and already has the full shape (as the gradients of sums do).
  const Tensor expanded = bias.expand({2, 3, 4, 5});
  CHECK((expanded * cl).is_channels_last());
  CHECK((expanded + cl).is_channels_last());
  CHECK((expanded * cl).to_vector<double>() == (bias * x).to_vector<double>());
  CHECK(mg::empty_like(cl).is_channels_last());
  CHECK(cl.clone().is_channels_last());
  CHECK(cl.contiguous().is_contiguous());
  mg::testing::check_close(mg::sum(cl, {0, 2, 3}), mg::sum(x, {0, 2, 3}), 1e-14, 1e-14, "sum over N, H, W");
  mg::testing::check_close(mg::sum(cl, {1}, true), mg::sum(x, {1}, true), 1e-14, 1e-14, "sum over C");
  mg::testing::check_close(mg::max(cl, 2), mg::max(x, 2), 0, 0, "max over H");
  mg::testing::check_close(mg::mean(cl, {2, 3}), mg::mean(x, {2, 3}), 1e-14, 1e-14, "mean over H, W");
}

// ResNet's option-A shortcut pads a channels-last activation's strided slice
// with zero channels; the result must stay channels-last, or the batch norm
// that adds it as a residual copies it into that layout every step.
TEST_CASE("cat lays its result out in the memory order of its largest input") {
  mg::Generator g(5);
  const Tensor x = mg::randn({2, 4, 6, 6}, g).channels_last();
  const Tensor sub = x.slice(2, 0, 6, 2).slice(3, 0, 6, 2);
  const Tensor zero = mg::zeros({2, 2, 3, 3});
  const Tensor padded = mg::cat({zero, sub, zero}, 1);
  CHECK(padded.is_channels_last());
  CHECK(padded.to_vector<float>() == mg::cat({zero, sub.contiguous(), zero}, 1).to_vector<float>());
  CHECK(mg::cat({zero, sub.contiguous(), zero}, 1).is_contiguous());
  // A broadcast largest input gives no layout: row-major.
  const Tensor wide = mg::ones({2, 1, 3, 3}).expand({2, 8, 3, 3});
  CHECK(mg::cat({sub, wide}, 1).is_contiguous());
  CHECK(mg::cat({sub, wide}, 1).to_vector<float>() ==
        mg::cat({sub.contiguous(), wide.contiguous()}, 1).to_vector<float>());
}
