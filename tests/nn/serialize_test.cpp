// Checkpoints: bit-exact round trips and clear errors for every kind of bad file.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "../support/testing.hpp"

namespace {

using mg::Tensor;

std::string scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "metagrad-tests";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("save and load round-trip a model bit for bit") {
  mg::Generator g1(1), g2(2);
  mg::nn::SmallCnn a(3, 10, g1), b(3, 10, g2);
  {  // make the running statistics non-trivial
    mg::Generator g(3);
    a(mg::randn({4, 3, 8, 8}, g));
  }
  const std::string path = scratch("roundtrip.mgt");
  mg::nn::save(a, path);
  mg::nn::load(b, path);
  const auto sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(sa.size() == sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    CAPTURE(sa[i].first);
    CHECK(sa[i].first == sb[i].first);
    CHECK(sa[i].second.to_vector<double>() == sb[i].second.to_vector<double>());
  }
  CHECK_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST_CASE("bad checkpoint files give clear errors and leave the model untouched") {
  mg::nn::MLP model({4, 3, 2});
  const std::string path = scratch("good.mgt");
  mg::nn::save(model, path);
  const auto good = read_bytes(path);
  const auto before = model.state_dict()[0].second.to_vector();
  mg::nn::MLP target({4, 3, 2});
  const auto untouched = target.state_dict()[0].second.to_vector();
  auto expect_error = [&](const std::vector<char>& bytes, const char* fragment) {
    const std::string bad = scratch("bad.mgt");
    write_bytes(bad, bytes);
    CHECK_THROWS_WITH_AS(mg::nn::load(target, bad), doctest::Contains(fragment), mg::Error);
    CHECK(target.state_dict()[0].second.to_vector() == untouched);
  };

  SUBCASE("truncated") {
    expect_error(std::vector<char>(good.begin(), good.begin() + static_cast<long>(good.size() / 2)), "truncated");
  }
  SUBCASE("a flipped data byte") {
    auto bytes = good;
    bytes[bytes.size() - 10] ^= 0x40;
    expect_error(bytes, "CRC-32");
  }
  SUBCASE("wrong magic") {
    auto bytes = good;
    bytes[0] = 'X';
    expect_error(bytes, "not a metagrad checkpoint");
  }
  SUBCASE("unsupported version") {
    auto bytes = good;
    bytes[8] = 9;
    expect_error(bytes, "format version 9");
  }
  SUBCASE("another architecture") {
    mg::nn::MLP other({4, 5, 2});
    mg::nn::save(other, scratch("other.mgt"));
    CHECK_THROWS_WITH_AS(mg::nn::load(target, scratch("other.mgt")), doctest::Contains("fc1.weight"), mg::Error);
    CHECK(target.state_dict()[0].second.to_vector() == untouched);
  }
  SUBCASE("missing file") {
    CHECK_THROWS_WITH_AS(mg::nn::load(target, scratch("does-not-exist.mgt")), doctest::Contains("does-not-exist"),
                         mg::Error);
  }
  CHECK(model.state_dict()[0].second.to_vector() == before);
}

TEST_CASE("saving into a missing directory fails cleanly") {
  mg::nn::MLP model({2, 2});
  CHECK_THROWS_WITH_AS(mg::nn::save(model, "/nonexistent-dir/model.mgt"), doctest::Contains("cannot write"), mg::Error);
}
