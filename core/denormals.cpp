#include "metagrad/core/denormals.hpp"

#include <omp.h>

#include <atomic>

#include "denormal_sync.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace mg {
namespace {

#if defined(__x86_64__) || defined(__i386__)
constexpr bool kSupported = true;
constexpr unsigned kFlushBits = 0x8040;  // MXCSR: FTZ (bit 15) and DAZ (bit 6)
bool thread_flushes() { return (_mm_getcsr() & kFlushBits) == kFlushBits; }
void set_on_thread(bool on) { _mm_setcsr(on ? _mm_getcsr() | kFlushBits : _mm_getcsr() & ~kFlushBits); }
#elif defined(__aarch64__)
constexpr bool kSupported = true;
constexpr unsigned long kFlushBit = 1ul << 24;  // FPCR.FZ: inputs and results
unsigned long fpcr() {
  unsigned long value;
  asm volatile("mrs %0, fpcr" : "=r"(value));
  return value;
}
bool thread_flushes() { return (fpcr() & kFlushBit) != 0; }
void set_on_thread(bool on) {
  const unsigned long value = on ? fpcr() | kFlushBit : fpcr() & ~kFlushBit;
  asm volatile("msr fpcr, %0" : : "r"(value));
}
#else
constexpr bool kSupported = false;
bool thread_flushes() { return false; }
void set_on_thread(bool) {}
#endif

// -1 until set_flush_denormal is first called: threads keep the mode they
// started with (the platform's, normally off).
std::atomic<int> process_mode{-1};
thread_local int thread_mode = -1;

void set_on_team(int mode) {
  set_on_thread(mode == 1);
#pragma omp parallel
  set_on_thread(mode == 1);
  thread_mode = mode;
}

}  // namespace

bool set_flush_denormal(bool on) {
  if (!kSupported) return !on;
  process_mode = on ? 1 : 0;
  set_on_team(process_mode);
  return true;
}

bool flush_denormal() { return thread_flushes(); }

void sync_flush_denormal() {
  const int mode = process_mode.load(std::memory_order_relaxed);
  if (mode >= 0 && mode != thread_mode) set_on_team(mode);
}

}  // namespace mg
