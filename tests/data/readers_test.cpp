// Dataset readers on files the tests write themselves, valid and corrupt.
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "../support/testing.hpp"

namespace {

namespace fs = std::filesystem;

fs::path scratch_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / "metagrad-data-tests" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  gzFile file = gzopen(path.string().c_str(), "wb");
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
}

// `count` CIFAR-10 records; record r has label r % 10 and pixels (r + i) % 256.
std::vector<std::uint8_t> cifar_records(int count, int label_bytes = 1) {
  std::vector<std::uint8_t> bytes;
  for (int r = 0; r < count; ++r) {
    for (int l = 0; l < label_bytes; ++l) bytes.push_back(static_cast<std::uint8_t>((r + l) % 10));
    for (int i = 0; i < 3072; ++i) bytes.push_back(static_cast<std::uint8_t>((r + i) % 256));
  }
  return bytes;
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

std::vector<std::uint8_t> idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
  std::vector<std::uint8_t> bytes;
  put32(bytes, 0x803);
  put32(bytes, count);
  put32(bytes, rows);
  put32(bytes, cols);
  for (std::uint32_t i = 0; i < count * rows * cols; ++i) bytes.push_back(static_cast<std::uint8_t>(i % 251));
  return bytes;
}

std::vector<std::uint8_t> idx_labels(std::uint32_t count) {
  std::vector<std::uint8_t> bytes;
  put32(bytes, 0x801);
  put32(bytes, count);
  for (std::uint32_t i = 0; i < count; ++i) bytes.push_back(static_cast<std::uint8_t>(i % 10));
  return bytes;
}

}  // namespace

TEST_CASE("CIFAR-10 reads any record count and decodes pixels and labels") {
  const auto dir = scratch_dir("cifar10");
  for (int b = 1; b <= 5; ++b) write(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar_records(3));
  write(dir / "test_batch.bin", cifar_records(4));
  const auto train = mg::data::cifar10(dir.string(), true);
  const auto test = mg::data::cifar10(dir.string(), false);
  CHECK(train->size() == 15);
  CHECK(test->size() == 4);
  CHECK(train->input_shape() == mg::Shape{3, 32, 32});
  const auto e = test->get(2);
  CHECK(e.label == 2);
  CHECK(e.input.to_vector()[0] == doctest::Approx(2.0f / 255.0f));
  CHECK(e.input.to_vector()[3071] == doctest::Approx(((2 + 3071) % 256) / 255.0f));
  CHECK_THROWS_WITH_AS(test->get(4), doctest::Contains("out of range"), mg::Error);
}

TEST_CASE("CIFAR readers reject bad files, naming the file and the record") {
  const auto dir = scratch_dir("cifar-bad");
  CHECK_THROWS_WITH_AS(mg::data::cifar10(dir.string(), false), doctest::Contains("test_batch.bin: no such file"),
                       mg::Error);
  auto bytes = cifar_records(2);
  bytes.pop_back();
  write(dir / "test_batch.bin", bytes);
  CHECK_THROWS_WITH_AS(mg::data::cifar10(dir.string(), false), doctest::Contains("not a whole number of 3073-byte"),
                       mg::Error);
  bytes = cifar_records(3);
  bytes[2 * 3073] = 12;
  write(dir / "test_batch.bin", bytes);
  CHECK_THROWS_WITH_AS(mg::data::cifar10(dir.string(), false), doctest::Contains("record 2 (byte 6146) has label 12"),
                       mg::Error);
}

TEST_CASE("CIFAR-100 uses the fine label of its two label bytes") {
  const auto dir = scratch_dir("cifar100");
  auto bytes = cifar_records(2, 2);
  bytes[3074 + 1] = 77;  // record 1: coarse label byte 0, fine label byte 1
  write(dir / "test.bin", bytes);
  const auto test = mg::data::cifar100(dir.string(), false);
  CHECK(test->size() == 2);
  CHECK(test->get(1).label == 77);
  CHECK(test->classes() == 100);
}

TEST_CASE("IDX files, plain and gzip-compressed") {
  const auto dir = scratch_dir("idx");
  write(dir / "train-images-idx3-ubyte", idx_images(5, 4, 3));
  write(dir / "train-labels-idx1-ubyte", idx_labels(5));
  write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_images(2, 4, 3));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_labels(2));
  const auto train = mg::data::mnist_like(dir.string(), true, "mnist");
  const auto test = mg::data::mnist_like(dir.string(), false, "mnist");
  CHECK(train->size() == 5);
  CHECK(test->size() == 2);
  CHECK(train->input_shape() == mg::Shape{1, 4, 3});
  CHECK(test->get(1).label == 1);
  CHECK(test->get(1).input.to_vector()[0] == doctest::Approx(12.0f / 255.0f));
}

TEST_CASE("IDX readers reject bad files") {
  const auto dir = scratch_dir("idx-bad");
  const auto images = (dir / "images").string(), labels = (dir / "labels").string();
  write(labels, idx_labels(3));
  auto bytes = idx_images(3, 2, 2);
  bytes[3] = 0x01;  // a labels magic number on an images file
  write(images, bytes);
  CHECK_THROWS_WITH_AS(mg::data::idx(images, labels), doctest::Contains("magic number 0x00000801 at byte 0"),
                       mg::Error);
  bytes = idx_images(3, 2, 2);
  bytes.resize(bytes.size() - 1);
  write(images, bytes);
  CHECK_THROWS_WITH_AS(mg::data::idx(images, labels), doctest::Contains("need exactly 28"), mg::Error);
  write(images, idx_images(4, 2, 2));
  CHECK_THROWS_WITH_AS(mg::data::idx(images, labels), doctest::Contains("4 images"), mg::Error);
  write(images, idx_images(3, 2, 2));
  auto label_bytes = idx_labels(3);
  label_bytes[9] = 42;
  write(labels, label_bytes);
  CHECK_THROWS_WITH_AS(mg::data::idx(images, labels), doctest::Contains("label 1 (byte 9) is 42"), mg::Error);
  write(dir / "broken.gz", {0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02});
  CHECK_THROWS_WITH_AS(mg::data::idx((dir / "broken.gz").string(), labels), doctest::Contains("broken.gz"), mg::Error);
}

TEST_CASE("the committed CIFAR-10 slice reads 520 and 128 images, labels as in the files") {
  const std::string dir = MG_CIFAR_SLICE;
  const auto train = mg::data::cifar10(dir, true);
  const auto test = mg::data::cifar10(dir, false);
  REQUIRE(train->size() == 520);
  REQUIRE(test->size() == 128);
  // Record 104 is the first of data_batch_2.bin; the label is its first byte.
  std::ifstream second(dir + "/data_batch_2.bin", std::ios::binary);
  const int label = second.get();
  CHECK(train->get(104).label == label);
  CHECK(train->get(104).input.shape() == mg::Shape{3, 32, 32});
}
