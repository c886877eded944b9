// kiln — Builder and BuilderConfig: NetworkDefinition -> Engine.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "kiln/network.h"
#include "kiln/profile.h"
#include "kiln/status.h"

namespace kiln {

/// Numeric precision the builder may use for layers.
/// kTF32: float32 tensors, products may round their operands to TF32 (10-bit mantissa) on
/// tensor cores. kFP16 / kBF16: layers that are accurate in the narrow type store it (and
/// products may use TF32 where a layer stays float32).
enum class Precision { kFP32, kTF32, kFP16, kBF16, kINT8 };
/// "fp32", "tf32", "fp16", "bf16", "int8"
const char* precisionName(Precision p);
std::optional<Precision> parsePrecision(std::string_view name);

/// Options of one build.
class BuilderConfig {
 public:
  /// Backend that runs the engine: "reference" (the oracle) or "cpu" (oneDNN + vectorized kernels).
  std::string backend = "reference";
  /// Threads each inference may use (host backends: the size of the one thread pool that runs
  /// both kiln's own kernels and oneDNN). 0: the machine's cores. Stored in the plan.
  int threads = 0;
  /// Fastest precision allowed (kINT8 is not implemented yet). The network's inputs and
  /// outputs keep their declared types whatever the precision.
  Precision precision = Precision::kFP32;
  /// Fixed shape of inputs, by name: a profile with min = opt = max, so the engine is specialized
  /// for it (symbols it fixes become constants). Not used together with `profiles`.
  std::map<std::string, Dims> inputShapes;
  /// Values of named dimension symbols ("batch" -> 8), fixed in every input that uses them.
  std::map<std::string, int64_t> symbols;
  /// Optimization profiles (min / opt / max per dynamic input). None: every dynamic dimension
  /// is free, and tactics are timed at a representative shape that the build log names.
  /// A symbol that every profile fixes to one value (min = max) becomes a constant.
  std::vector<OptimizationProfile> profiles;
  /// Constant folding leaves results larger than this many bytes unfolded.
  size_t foldLimitBytes = size_t{64} << 20;
  /// Largest byte size of one tensor, and of a context's activation arena, that the engine may
  /// need (0: the machine's physical memory). The build fails with the size it needed when the
  /// representative or the largest profile shape exceeds them; a context refuses input shapes
  /// that would. Stored in the plan.
  uint64_t maxTensorBytes = 0;
  uint64_t maxArenaBytes = 0;
  /// Timing of candidate tactics: warm-up runs and measured runs (fastest kept).
  int timingWarmup = 2;
  int timingIterations = 5;
  /// Optimizer passes to skip, by name (`kiln build --disable-pass`); "all" skips every pass
  /// that is not required to build. Unknown names are an error listing the passes.
  std::vector<std::string> disabledPasses;
  /// When not empty, the text IR is written to this folder before and after each pass.
  std::string dumpIrDir;
  /// Verify the IR after every pass. Unset: on in debug builds and when the environment
  /// variable KILN_VERIFY_PASSES is 1 (the test suite sets it).
  std::optional<bool> verifyPasses;
};

/// The machine's physical memory in bytes (the default memory limits).
uint64_t physicalMemoryBytes();

/// Compiles networks into engines. Stateless; safe to use from several threads.
class Builder {
 public:
  /// Optimizes `network` for `config` and returns the engine. The network is not modified.
  /// Errors name the layer or input at fault.
  static Expected<std::shared_ptr<Engine>> build(const NetworkDefinition& network,
                                                 const BuilderConfig& config);
};

}  // namespace kiln
