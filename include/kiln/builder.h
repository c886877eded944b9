// kiln — Builder and BuilderConfig: NetworkDefinition -> Engine.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "kiln/network.h"
#include "kiln/status.h"

namespace kiln {

/// Numeric precision the builder may use for layers.
enum class Precision { kFP32, kFP16, kBF16, kINT8 };
/// "fp32", "fp16", "bf16", "int8"
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
  /// Fastest precision allowed; only kFP32 is implemented yet.
  Precision precision = Precision::kFP32;
  /// Shape of each input, by name. Required for inputs with symbolic dims unless every symbol
  /// they use is given in `symbols`. (An optimization profile with min = opt = max.)
  std::map<std::string, Dims> inputShapes;
  /// Values of named dimension symbols ("batch" -> 8), applied to every input that uses them.
  std::map<std::string, int64_t> symbols;
  /// Constant folding leaves results larger than this many bytes unfolded.
  size_t foldLimitBytes = size_t{64} << 20;
  /// Timing of candidate tactics: warm-up runs and measured runs (fastest kept).
  int timingWarmup = 2;
  int timingIterations = 5;
};

/// Compiles networks into engines. Stateless; safe to use from several threads.
class Builder {
 public:
  /// Optimizes `network` for `config` and returns the engine. The network is not modified.
  /// Errors name the layer or input at fault.
  static Expected<std::shared_ptr<Engine>> build(const NetworkDefinition& network,
                                                 const BuilderConfig& config);
};

}  // namespace kiln
