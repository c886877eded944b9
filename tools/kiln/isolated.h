// kiln — running work items in forked child processes, so that a crash or a hang in one item
// cannot take the caller down: each child has a time limit and is killed when it runs over.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace kiln::cli {

/// How one child ended.
struct ChildOutcome {
  enum class Kind {
    kExited,      ///< the child exited; `exitCode` says how
    kSignaled,    ///< a signal ended it (a crash: SIGSEGV, SIGABRT from a sanitizer, ...)
    kTimedOut,    ///< it ran past the time limit and was killed
    kForkFailed,  ///< no child could be started
  };
  Kind kind = Kind::kExited;
  int exitCode = 0;
  int signal = 0;
  std::string result;  ///< what the work function returned (complete only when kExited/0)
  std::string log;     ///< the last few KiB the child wrote to stdout and stderr
  double seconds = 0;

  /// "crashed with signal 11 (Segmentation fault)", "timed out after 60 s", ...
  std::string describe(double timeoutSeconds) const;
};

/// Runs work(i) for i in [0, count), each in its own forked child, at most `jobs` at a time.
/// A child returns work(i)'s string to the parent through a pipe and exits; one that runs
/// longer than `timeoutSeconds` is killed (SIGKILL). done(i, outcome) is called in the parent,
/// in completion order. The caller must be single-threaded when it calls this (fork).
void runIsolated(size_t count, int jobs, double timeoutSeconds,
                 const std::function<std::string(size_t)>& work,
                 const std::function<void(size_t, const ChildOutcome&)>& done);

}  // namespace kiln::cli
