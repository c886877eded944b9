#include "test_util.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>

namespace kiln::test {

namespace {
// Every build in the tests verifies the IR after each pass (Builder reads this variable), also
// when kiln_tests is run directly rather than through ctest.
[[maybe_unused]] const int kVerifyPasses = ::setenv("KILN_VERIFY_PASSES", "1", /*overwrite=*/0);
}  // namespace

CommandResult runCommand(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    r.output.append(buf.data(), n);
  int status = pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string tempDir(const std::string& tag) {
  auto base = std::filesystem::temp_directory_path() /
              ("kiln_test_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  return base.string();
}

}  // namespace kiln::test
