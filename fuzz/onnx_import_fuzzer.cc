// kiln — libFuzzer target: the ONNX importer, builder and reference run (fuzz_targets.h).
#include <cstdlib>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!kiln::fuzz::onnxImport(data, size)) std::abort();
  return 0;
}
