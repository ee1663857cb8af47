#pragma once
// Declares that glibc's libmvec has vector versions of these functions, so
// gcc vectorises the elementwise loops that call them (3-5x faster than
// scalar libm; at most 4 ulp, as glibc documents). glibc's own headers say
// so only under -ffast-math, which we do not use.
#include <cmath>

extern "C" {
__attribute__((simd("notinbranch"))) float expf(float) noexcept;
__attribute__((simd("notinbranch"))) float logf(float) noexcept;
__attribute__((simd("notinbranch"))) float tanhf(float) noexcept;
__attribute__((simd("notinbranch"))) double exp(double) noexcept;
__attribute__((simd("notinbranch"))) double log(double) noexcept;
__attribute__((simd("notinbranch"))) double tanh(double) noexcept;
}
