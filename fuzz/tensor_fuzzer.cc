// kiln — libFuzzer target: the .pb tensor reader (fuzz_targets.h).
#include <cstdlib>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!kiln::fuzz::tensorParse(data, size)) std::abort();
  return 0;
}
