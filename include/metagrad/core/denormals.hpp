#pragma once
// Denormal (subnormal) floats, the values below 2^-126 in float32, cost a
// microcode assist of about a hundred cycles per operation on x86. A run
// whose numbers decay towards zero pays it everywhere: a learned optimizer
// meta-trained on its do-nothing plateau ran 5x slower per epoch, most of it
// inside oneDNN's kernels. Flushing them to zero (FTZ for results, DAZ for
// inputs) removes the cost and changes results only where a value would have
// been denormal; it is off by default, as in PyTorch
// (torch.set_flush_denormal).

namespace mg {

// Turns flushing on or off for the calling thread, its OpenMP team, the
// threads of run_concurrently, and every thread created afterwards (a
// thread starts with its creator's mode). Returns false, changing nothing,
// where the CPU has no such mode and `on` was asked for.
bool set_flush_denormal(bool on);

// Whether the calling thread flushes denormals to zero.
bool flush_denormal();

}  // namespace mg
