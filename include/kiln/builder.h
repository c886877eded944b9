// kiln — Builder and BuilderConfig: NetworkDefinition -> Engine.
#pragma once

#include <map>
#include <memory>
#include <optional>
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
  /// Backend that runs the engine ("reference" for now).
  std::string backend = "reference";
  /// Fastest precision allowed; only kFP32 is implemented yet.
  Precision precision = Precision::kFP32;
  /// Shape of each input, by name. Required for inputs with symbolic dims unless every symbol
  /// they use is given in `symbols`. (An optimization profile with min = opt = max.)
  std::map<std::string, Dims> inputShapes;
  /// Values of named dimension symbols ("batch" -> 8), applied to every input that uses them.
  std::map<std::string, int64_t> symbols;
  /// Constant folding leaves results larger than this many bytes unfolded.
  size_t foldLimitBytes = size_t{64} << 20;
  /// Timing of candidate tactics: warm-up runs and measured runs (median kept).
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

/// Compiles networks into engines. Stateless; safe to use from several threads.
class Builder {
 public:
  /// Optimizes `network` for `config` and returns the engine. The network is not modified.
  /// Errors name the layer or input at fault.
  static Expected<std::shared_ptr<Engine>> build(const NetworkDefinition& network,
                                                 const BuilderConfig& config);
};

}  // namespace kiln
