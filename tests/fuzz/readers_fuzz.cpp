// libFuzzer target for the dataset readers: any bytes, as an IDX image file
// (plain or gzip), an IDX label file or a CIFAR-10 file, must give a dataset
// or an mg::Error,
// never a crash, a hang or undefined behaviour.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "metagrad/core/error.hpp"
#include "metagrad/data/dataset.hpp"

namespace {

const std::string& scratch() {
  static const std::string dir = [] {
    char pattern[] = "/tmp/metagrad-fuzz-XXXXXX";
    return std::string(mkdtemp(pattern));
  }();
  return dir;
}

void write(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// A valid 2-image, 2x2 IDX pair to combine with fuzzed files.
void write_valid_idx(const std::string& images, const std::string& labels) {
  const std::uint8_t image_bytes[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
  const std::uint8_t label_bytes[] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 7};
  write(images, image_bytes, sizeof(image_bytes));
  write(labels, label_bytes, sizeof(label_bytes));
}

void read_all(const mg::data::Dataset& dataset) {
  for (std::int64_t i = 0; i < dataset.size() && i < 4; ++i) dataset.get(i);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string dir = scratch();
  const std::string images = dir + "/images", labels = dir + "/labels", fuzzed = dir + "/fuzzed";
  write_valid_idx(images, labels);
  try {
    switch (data[0] % 4) {
      case 0:
        write(fuzzed, data + 1, size - 1);
        read_all(*mg::data::idx(fuzzed, labels));
        break;
      case 1:
        write(fuzzed, data + 1, size - 1);
        read_all(*mg::data::idx(images, fuzzed));
        break;
      case 2:
        write(dir + "/test_batch.bin", data + 1, size - 1);
        read_all(*mg::data::cifar10(dir, false));
        break;
      case 3:  // the bytes as a gzip-compressed IDX image file
        write(fuzzed + ".gz", data + 1, size - 1);
        read_all(*mg::data::idx(fuzzed + ".gz", labels));
        break;
    }
  } catch (const mg::Error&) {
    // a clear error is the right answer to bad bytes
  }
  return 0;
}
