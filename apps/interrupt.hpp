#pragma once
// Ctrl-C for long commands: SIGINT, and SIGTERM (what mpirun sends every
// rank when its user presses Ctrl-C), ask a command to stop at a point it
// can resume from.
//
// No signal handler ever runs on a computing thread: on this project's
// virtual machines a handler run in the middle of a oneDNN AVX-512 kernel
// corrupted the heap about one time in four. Instead both signals stay
// blocked in every thread and one thread of our own waits for them.
#include <atomic>

namespace mg::apps {

// Call first in main(), before any thread starts (threads inherit the
// blocked signals): from then on a signal sets the flag of the innermost
// open InterruptScope, or, with none open or on a second signal, ends the
// process with status 128 + signal, as the default action would.
void watch_interrupts();

class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  const std::atomic<bool>& requested() const;
};

}  // namespace mg::apps
