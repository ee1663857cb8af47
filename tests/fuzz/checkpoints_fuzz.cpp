// libFuzzer target for checkpoint files: any bytes must load or give an
// mg::Error, never a crash, a hang or undefined behaviour; a load that fails
// must leave the model, optimizer and schedule exactly as they were, and
// training must go on from one that succeeds.
// The first byte picks what the rest is: a whole file for nn::load, or a
// file body whose CRC-32 the harness appends (so that fuzzing gets past the
// checksum into the parser) for nn::load or optim::load_checkpoint.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "metagrad/metagrad.hpp"

namespace {

struct Run {
  mg::nn::MLP model{std::vector<std::int64_t>{3, 4, 2}};
  std::unique_ptr<mg::optim::Optimizer> optimizer;
  std::unique_ptr<mg::optim::Schedule> schedule;
  Run() {
    optimizer = mg::optim::make("adam(lr=0.01, amsgrad=true)", model.named_parameters());
    schedule = mg::optim::make_schedule("cosine(t_max=10)", *optimizer);
  }
};

using Snapshot = std::vector<std::pair<std::string, std::vector<double>>>;

Snapshot snapshot(const Run& run) {
  Snapshot out;
  for (const auto& tensors : {run.model.state_dict(), run.optimizer->state_dict(), run.schedule->state_dict()})
    for (const auto& [name, t] : tensors) out.emplace_back(name, t.to_vector<double>());
  return out;
}

std::string scratch_file() {
  char pattern[] = "/tmp/metagrad-fuzz-XXXXXX";
  return std::string(mkdtemp(pattern)) + "/checkpoint.mgt";
}

void write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void append_crc(std::vector<std::uint8_t>& bytes) {
  const auto crc = static_cast<std::uint32_t>(crc32(0L, bytes.data(), static_cast<uInt>(bytes.size())));
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<std::uint8_t>(crc >> (8 * i)));
}

// With MG_FUZZ_SEEDS=dir, writes a valid input for each mode into dir.
void write_seeds(const char* dir) {
  Run run;
  const std::string path = scratch_file();
  mg::nn::save(run.model, path);
  auto model_file = read(path);
  mg::optim::save_checkpoint(path, run.model, *run.optimizer, run.schedule.get());
  auto checkpoint_file = read(path);
  auto seed = [&](const char* name, std::uint8_t mode, std::vector<std::uint8_t> bytes, bool strip_crc) {
    if (strip_crc) bytes.resize(bytes.size() - 4);
    bytes.insert(bytes.begin(), mode);
    write(std::string(dir) + "/" + name, bytes);
  };
  seed("model_file", 0, model_file, false);
  seed("model_body", 1, model_file, true);
  seed("checkpoint_body", 2, checkpoint_file, true);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MG_FUZZ_SEEDS")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const std::string path = scratch_file();
  const int mode = data[0] % 3;
  std::vector<std::uint8_t> bytes(data + 1, data + size);
  if (mode != 0) append_crc(bytes);
  write(path, bytes);
  Run run;
  const Snapshot before = snapshot(run);
  try {
    if (mode == 2)
      mg::optim::load_checkpoint(path, run.model, *run.optimizer, run.schedule.get());
    else
      mg::nn::load(run.model, path);
  } catch (const mg::Error&) {
    if (snapshot(run) != before) {
      std::fprintf(stderr, "a failed load changed the model, optimizer or schedule\n");
      std::abort();
    }
    return 0;
  }
  // Loaded: one more training step must work (an error here escapes: a crash).
  const mg::Tensor x = mg::ones({2, 3});
  mg::sum(run.model.forward(x)).backward();
  run.optimizer->step();
  run.schedule->step();
  return 0;
}
