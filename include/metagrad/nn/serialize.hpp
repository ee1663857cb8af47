#pragma once
// Checkpoint files: named tensors in a small versioned binary format.
//
//   bytes 0-7   magic "MGTENSOR"
//   8-11        format version (uint32, currently 1)
//   12-15       number of entries (uint32)
//   entries     name length (uint32), name (UTF-8), dtype (uint8: 0 float32,
//               1 float64, 2 int64), ndim (uint8), dims (int64 each), data
//               length in bytes (uint64), data (row-major)
//   last 4      CRC-32 (zlib) of every byte before it
//
// All integers are little-endian. Files are written to a temporary name and
// renamed into place, so a crash never leaves a half-written checkpoint.
#include <string>

#include "metagrad/nn/module.hpp"

namespace mg::nn {

void save_tensors(const std::string& path, const NamedTensors& tensors);
// Throws mg::Error naming the file and the byte where it is wrong (missing,
// truncated, bad magic or version, corrupt, checksum mismatch).
NamedTensors load_tensors(const std::string& path);

// A module's state_dict (parameters and buffers).
void save(const Module& module, const std::string& path);
// Loads into the module's tensors; a file that does not match the module
// (names, shapes, dtypes) or is corrupt throws and leaves the module untouched.
void load(Module& module, const std::string& path);

}  // namespace mg::nn
