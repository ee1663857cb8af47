// Loop positions as checkpoint tensors (a word is stored as its bytes in an
// int64 tensor), the wall clock over stints, and metrics logs.
#include "metagrad/optim/training_loop.hpp"

#include "core/check.hpp"
#include "metagrad/core/files.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::optim {
namespace {

constexpr const char* kWordPrefix = "word.";

Tensor number_tensor(double v) { return Tensor::from_vector(std::vector<double>{v}, {}); }

Tensor word_tensor(const std::string& word) {
  std::vector<std::int64_t> bytes(word.begin(), word.end());
  return Tensor::from_vector(bytes, {static_cast<std::int64_t>(bytes.size())});
}

std::string word_of(const Tensor& t) {
  std::string word;
  for (std::int64_t byte : t.to_vector<std::int64_t>()) word.push_back(static_cast<char>(byte));
  return word;
}

}  // namespace

LoopPosition::LoopPosition() : started_(std::chrono::steady_clock::now()) {}

LoopPosition::LoopPosition(const nn::NamedTensors& saved, const std::vector<std::string>& required,
                           const std::string& file)
    : resumed_(true) {
  for (const auto& [key, t] : saved) {
    if (key.rfind(kWordPrefix, 0) == 0 && t.dtype() == DType::Int64 && t.dim() == 1)
      words_[key.substr(std::char_traits<char>::length(kWordPrefix))] = word_of(t);
    else if (t.dim() == 0)
      numbers_[key] = t.item<double>();
  }
  for (const auto& name : required)
    MG_CHECK(has(name), "{}: the checkpoint has no '{}' (not a checkpoint of this kind of run?)", file, name);
  if (auto it = numbers_.find("wall"); it != numbers_.end()) wall_before_ = it->second;  // older files: none
  started_ = std::chrono::steady_clock::now();
}

double LoopPosition::number(const std::string& name) const {
  auto it = numbers_.find(name);
  MG_CHECK(it != numbers_.end(), "loop position: no number '{}'", name);
  return it->second;
}

std::string LoopPosition::word(const std::string& name) const {
  auto it = words_.find(name);
  MG_CHECK(it != words_.end(), "loop position: no word '{}'", name);
  return it->second;
}

double LoopPosition::stint_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

double LoopPosition::wall() const { return wall_before_ + stint_seconds(); }

nn::NamedTensors LoopPosition::tensors(const std::map<std::string, double>& numbers,
                                       const std::map<std::string, std::string>& words) const {
  nn::NamedTensors out;
  for (const auto& [name, value] : numbers) out.emplace_back(name, number_tensor(value));
  for (const auto& [name, word] : words) out.emplace_back(kWordPrefix + name, word_tensor(word));
  out.emplace_back("wall", number_tensor(wall()));
  return out;
}

MetricsLog::MetricsLog(const std::string& path, bool resume, const std::string& key, double position)
    : out_(open_log(path, resume, key, position)) {}

void MetricsLog::write(const nlohmann::json& record) {
  if (out_.is_open()) out_ << record.dump() << std::endl;
}

}  // namespace mg::optim
