// kiln — libFuzzer target: the plan loader, a round trip and a run (fuzz_targets.h).
//
// Plans are checksummed (XXH3 over the file), so mutated bytes are refused at the checksum
// unless the checksum is resealed: the custom mutator below reseals it after libFuzzer's
// mutation, so that the fuzzer reaches the validation of every field behind it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <xxhash.h>

#include "fuzz_targets.h"
#include "plan/plan_format.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t maxSize);

namespace {

/// Makes the header's file size and checksum those of `data` (as the writer computes them).
void reseal(uint8_t* data, size_t size) {
  kiln::PlanHeader h;
  if (size < sizeof h) return;
  std::memcpy(&h, data, sizeof h);
  h.fileBytes = size;
  h.checksum = 0;
  std::memcpy(data, &h, sizeof h);
  h.checksum = XXH3_64bits(data, size);
  std::memcpy(data, &h, sizeof h);
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t maxSize,
                                          unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, maxSize);
  // Most mutants get a valid size and checksum (the interesting ones); a few keep stale ones.
  if (seed % 8 != 0) reseal(data, size);
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!kiln::fuzz::planLoad(data, size)) std::abort();
  return 0;
}
