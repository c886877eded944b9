#include "kiln/isolated.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace kiln::cli {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kLogTail = 8192;

struct Child {
  size_t index = 0;
  pid_t pid = -1;
  int resultFd = -1;  // the work function's string
  int logFd = -1;     // the child's stdout and stderr
  Clock::time_point start, deadline;
  ChildOutcome outcome;
};

/// Writes all of `s` to `fd`; false when the pipe breaks.
bool writeAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

/// Reads what is available on `*fd` into `out`; closes it and sets -1 at end of file.
void drain(int* fd, std::string* out, size_t keepTail) {
  char buf[65536];
  ssize_t n = ::read(*fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    ::close(*fd);
    *fd = -1;
    return;
  }
  out->append(buf, static_cast<size_t>(n));
  if (keepTail && out->size() > 2 * keepTail) out->erase(0, out->size() - keepTail);
}

[[noreturn]] void runChild(size_t index, int resultFd, int logFd,
                           const std::function<std::string(size_t)>& work) {
  ::dup2(logFd, STDOUT_FILENO);
  ::dup2(logFd, STDERR_FILENO);
  ::close(logFd);
  std::string result = work(index);
#if defined(__SANITIZE_ADDRESS__)
  // _exit skips LeakSanitizer's exit-time check: run it here, before the result is sent, so
  // that a leak makes the child fail (LeakSanitizer exits non-zero with its report).
  __lsan_do_leak_check();
#endif
  std::fflush(stdout);
  std::fflush(stderr);
  bool ok = writeAll(resultFd, result);
  ::close(resultFd);
  ::_exit(ok ? 0 : 3);  // no atexit handlers or inherited stdio buffers of the parent
}

bool startChild(size_t index, double timeoutSeconds, const std::function<std::string(size_t)>& work,
                Child* c) {
  int resultPipe[2], logPipe[2];
  if (::pipe(resultPipe) != 0) return false;
  if (::pipe(logPipe) != 0) {
    ::close(resultPipe[0]);
    ::close(resultPipe[1]);
    return false;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {resultPipe[0], resultPipe[1], logPipe[0], logPipe[1]})
      ::close(fd);
    return false;
  }
  if (pid == 0) {
    ::close(resultPipe[0]);
    ::close(logPipe[0]);
    runChild(index, resultPipe[1], logPipe[1], work);
  }
  ::close(resultPipe[1]);
  ::close(logPipe[1]);
  ::fcntl(resultPipe[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(logPipe[0], F_SETFD, FD_CLOEXEC);
  c->index = index;
  c->pid = pid;
  c->resultFd = resultPipe[0];
  c->logFd = logPipe[0];
  c->start = Clock::now();
  c->deadline = c->start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(timeoutSeconds));
  return true;
}

/// Waits for the child's exit status and fills in how it ended.
void reap(Child* c, bool timedOut) {
  if (timedOut) ::kill(c->pid, SIGKILL);
  int status = 0;
  while (::waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
  }
  for (int* fd : {&c->resultFd, &c->logFd})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
  ChildOutcome& o = c->outcome;
  o.seconds = std::chrono::duration<double>(Clock::now() - c->start).count();
  if (o.log.size() > kLogTail) o.log.erase(0, o.log.size() - kLogTail);
  if (timedOut) {
    o.kind = ChildOutcome::Kind::kTimedOut;
  } else if (WIFSIGNALED(status)) {
    o.kind = ChildOutcome::Kind::kSignaled;
    o.signal = WTERMSIG(status);
  } else {
    o.kind = ChildOutcome::Kind::kExited;
    o.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
}

}  // namespace

std::string ChildOutcome::describe(double timeoutSeconds) const {
  char buf[160];
  switch (kind) {
    case Kind::kExited:
      if (exitCode == 0) return "exited normally";
      std::snprintf(buf, sizeof buf, "exited with status %d without a result", exitCode);
      return buf;
    case Kind::kSignaled:
      std::snprintf(buf, sizeof buf, "crashed with signal %d (%s)", signal, strsignal(signal));
      return buf;
    case Kind::kTimedOut:
      std::snprintf(buf, sizeof buf, "timed out after %g s", timeoutSeconds);
      return buf;
    case Kind::kForkFailed:
      return std::string("could not start a child process: ") + std::strerror(exitCode);
  }
  return "?";
}

void runIsolated(size_t count, int jobs, double timeoutSeconds,
                 const std::function<std::string(size_t)>& work,
                 const std::function<void(size_t, const ChildOutcome&)>& done) {
  if (jobs < 1) jobs = 1;
  std::vector<Child> running;
  size_t next = 0;
  while (next < count || !running.empty()) {
    while (next < count && running.size() < static_cast<size_t>(jobs)) {
      Child c;
      if (!startChild(next, timeoutSeconds, work, &c)) {
        ChildOutcome o;
        o.kind = ChildOutcome::Kind::kForkFailed;
        o.exitCode = errno;
        done(next++, o);
        continue;
      }
      ++next;
      running.push_back(std::move(c));
    }
    if (running.empty()) continue;
    // Wait for output or the nearest deadline.
    std::vector<pollfd> fds;
    std::vector<std::pair<size_t, bool>> owner;  // (child, is result fd)
    auto now = Clock::now();
    auto nearest = running.front().deadline;
    for (size_t k = 0; k < running.size(); ++k) {
      nearest = std::min(nearest, running[k].deadline);
      if (running[k].resultFd >= 0) {
        fds.push_back({running[k].resultFd, POLLIN, 0});
        owner.push_back({k, true});
      }
      if (running[k].logFd >= 0) {
        fds.push_back({running[k].logFd, POLLIN, 0});
        owner.push_back({k, false});
      }
    }
    double waitMs = std::max(0.0, std::chrono::duration<double, std::milli>(nearest - now).count());
    int timeout = static_cast<int>(std::min(std::ceil(waitMs), 1000.0));
    int ready = fds.empty() ? 0 : ::poll(fds.data(), fds.size(), timeout);
    if (fds.empty()) ::usleep(static_cast<useconds_t>(timeout) * 1000);
    if (ready > 0) {
      for (size_t f = 0; f < fds.size(); ++f) {
        if (!(fds[f].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Child& c = running[owner[f].first];
        if (owner[f].second)
          drain(&c.resultFd, &c.outcome.result, 0);
        else
          drain(&c.logFd, &c.outcome.log, kLogTail);
      }
    }
    // Finished children (both pipes closed) and children past their deadline.
    now = Clock::now();
    for (size_t k = 0; k < running.size();) {
      Child& c = running[k];
      bool finished = c.resultFd < 0 && c.logFd < 0;
      bool late = !finished && now >= c.deadline;
      if (!finished && !late) {
        ++k;
        continue;
      }
      reap(&c, late);
      done(c.index, c.outcome);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
}

}  // namespace kiln::cli
