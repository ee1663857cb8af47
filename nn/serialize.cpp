#include "metagrad/nn/serialize.hpp"

#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/check.hpp"
#include "core/tensor_impl.hpp"
#include "metagrad/core/files.hpp"

namespace mg::nn {
namespace {

static_assert(std::endian::native == std::endian::little, "the checkpoint format is little-endian");

constexpr char kMagic[8] = {'M', 'G', 'T', 'E', 'N', 'S', 'O', 'R'};
constexpr std::uint32_t kVersion = 1;

std::uint8_t dtype_code(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return 0;
    case DType::Float64:
      return 1;
    case DType::Int64:
      return 2;
  }
  return 255;
}

class Writer {
 public:
  template <class T>
  void put(const T& value) {
    bytes(&value, sizeof(T));
  }
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const char*>(data);
    buffer_.insert(buffer_.end(), p, p + n);
  }
  std::vector<char>& buffer() { return buffer_; }

 private:
  std::vector<char> buffer_;
};

// Bounds-checked reads that name the byte offset on failure.
class Reader {
 public:
  Reader(const std::vector<char>& data, std::size_t end, const std::string& path)
      : data_(data), end_(end), path_(path) {}
  template <class T>
  T get(const std::string& what) {
    T value;
    std::memcpy(&value, take(sizeof(T), what), sizeof(T));
    return value;
  }
  const char* take(std::size_t n, const std::string& what) {
    if (n > end_ - position_)
      throw Error(fmt::format("{}: truncated at byte {}: {} needs {} bytes, {} remain", path_, position_, what, n,
                              end_ - position_));
    const char* p = data_.data() + position_;
    position_ += n;
    return p;
  }
  std::size_t position() const { return position_; }
  [[noreturn]] void fail(std::size_t at, const std::string& message) const {
    throw Error(fmt::format("{}: byte {}: {}", path_, at, message));
  }

 private:
  const std::vector<char>& data_;
  std::size_t end_;
  std::size_t position_ = 0;
  const std::string& path_;
};

std::uint32_t crc32_of(const char* data, std::size_t n) {
  return static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(n)));
}

// The element count of `shape`, or -1 when it does not fit in 2^48.
std::int64_t checked_numel(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n) || n > (std::int64_t{1} << 48)) return -1;
  return n;
}

}  // namespace

void save_tensors(const std::string& path, const NamedTensors& tensors) {
  Writer out;
  out.bytes(kMagic, sizeof(kMagic));
  out.put(kVersion);
  out.put(static_cast<std::uint32_t>(tensors.size()));
  for (const auto& [name, tensor] : tensors) {
    MG_CHECK(tensor.defined(), "save: tensor '{}' is undefined", name);
    const Tensor data = tensor.detach().contiguous();
    out.put(static_cast<std::uint32_t>(name.size()));
    out.bytes(name.data(), name.size());
    out.put(dtype_code(data.dtype()));
    out.put(static_cast<std::uint8_t>(data.dim()));
    for (std::int64_t d : data.shape()) out.put(d);
    const std::uint64_t nbytes = static_cast<std::uint64_t>(data.numel()) * element_size(data.dtype());
    out.put(nbytes);
    out.bytes(data.impl()->data(), nbytes);
  }
  out.put(crc32_of(out.buffer().data(), out.buffer().size()));
  write_file_atomically(path, std::string_view(out.buffer().data(), out.buffer().size()));
}

NamedTensors load_tensors(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  MG_CHECK(file.good(), "cannot open {}: {}", path, std::strerror(errno));
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  MG_CHECK(bytes.size() >= sizeof(kMagic) + 12, "{}: {} bytes is too short for a metagrad checkpoint", path,
           bytes.size());
  MG_CHECK(std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) == 0,
           "{}: not a metagrad checkpoint (bytes 0-7 should read MGTENSOR)", path);
  const std::size_t body = bytes.size() - 4;
  Reader in(bytes, body, path);
  in.take(sizeof(kMagic), "magic");
  const auto version = in.get<std::uint32_t>("format version");
  if (version != kVersion)
    in.fail(8, fmt::format("format version {} is not supported (expected {})", version, kVersion));
  std::uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + body, 4);
  const std::uint32_t actual_crc = crc32_of(bytes.data(), body);

  NamedTensors tensors;
  const auto count = in.get<std::uint32_t>("entry count");
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::string entry = fmt::format("entry {}", i);
    const auto name_length = in.get<std::uint32_t>(entry + " name length");
    const char* name_bytes = in.take(name_length, entry + " name");
    const std::string name(name_bytes, name_length);
    const std::size_t dtype_at = in.position();
    const auto code = in.get<std::uint8_t>("dtype of '" + name + "'");
    if (code > 2) in.fail(dtype_at, fmt::format("'{}' has unknown dtype code {} (expected 0, 1 or 2)", name, code));
    const DType dtype = code == 0 ? DType::Float32 : code == 1 ? DType::Float64 : DType::Int64;
    const auto ndim = in.get<std::uint8_t>("ndim of '" + name + "'");
    Shape shape;
    for (std::uint8_t d = 0; d < ndim; ++d) {
      const std::size_t at = in.position();
      shape.push_back(in.get<std::int64_t>("dims of '" + name + "'"));
      if (shape.back() < 0) in.fail(at, fmt::format("'{}' has a negative dim {}", name, shape.back()));
    }
    const std::size_t length_at = in.position();
    const std::int64_t numel = checked_numel(shape);
    if (numel < 0) in.fail(length_at, fmt::format("'{}' has an impossible shape {}", name, to_string(shape)));
    const auto nbytes = in.get<std::uint64_t>("data length of '" + name + "'");
    const std::uint64_t expected = static_cast<std::uint64_t>(numel) * element_size(dtype);
    if (nbytes != expected)
      in.fail(length_at, fmt::format("'{}' of shape {} ({}) should hold {} bytes, the file says {}", name,
                                     to_string(shape), dtype_name(dtype), expected, nbytes));
    const char* data = in.take(nbytes, "data of '" + name + "'");
    Tensor t = Tensor::empty(shape, dtype);
    if (nbytes > 0) std::memcpy(t.impl()->data(), data, nbytes);
    tensors.emplace_back(name, t);
  }
  if (in.position() != body)
    in.fail(in.position(), fmt::format("{} unexpected bytes after the last entry", body - in.position()));
  if (stored_crc != actual_crc)
    throw Error(fmt::format("{}: corrupt: CRC-32 of bytes 0-{} is {:08x} but the file records {:08x}", path, body - 1,
                            actual_crc, stored_crc));
  return tensors;
}

void save(const Module& module, const std::string& path) { save_tensors(path, module.state_dict()); }

void load(Module& module, const std::string& path) {
  const NamedTensors tensors = load_tensors(path);
  try {
    module.load_state_dict(tensors);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace mg::nn
