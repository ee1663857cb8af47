#include "interrupt.hpp"

#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <thread>

namespace mg::apps {
namespace {

std::atomic<bool> requested_flag{false};
std::atomic<int> open_scopes{0};

sigset_t interrupt_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Lock-free atomics and _Exit only: safe in a signal handler too.
void on_interrupt(int signal) {
  if (open_scopes.load() == 0 || requested_flag.exchange(true)) std::_Exit(128 + signal);
}

}  // namespace

void watch_interrupts() {
  const sigset_t set = interrupt_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    while (true) {
      int signal = 0;
      if (sigwait(&set, &signal) == 0) on_interrupt(signal);
    }
  }).detach();
  // Libraries' own threads (Open MPI's progress threads) may unblock the
  // signals; one that lands there runs this handler instead of killing us.
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

InterruptScope::InterruptScope() {
  requested_flag.store(false);
  ++open_scopes;
}

InterruptScope::~InterruptScope() { --open_scopes; }

const std::atomic<bool>& InterruptScope::requested() const { return requested_flag; }

}  // namespace mg::apps
