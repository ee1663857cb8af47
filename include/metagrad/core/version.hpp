#pragma once
#include <string>

namespace mg {

const char* version();  // "MAJOR.MINOR.PATCH"

// What this build runs on: compiler and code generation, threads, and the
// OpenBLAS kernels and oneDNN version actually loaded (one "key: value" a line).
std::string build_info();

}  // namespace mg
