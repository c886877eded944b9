// kiln — what an Engine holds: the optimized network, chosen tactics and the memory plan.
// Built by the Builder, written and read by src/plan, run by ExecutionContext.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "kiln/network.h"

namespace kiln {

struct EngineData {
  std::string kilnVersion;
  std::string backend;  ///< backend name ("reference")
  std::string device;   ///< device signature the plan was built for
  std::string source;   ///< where the model came from (file name), informational
  int32_t threads = 1;  ///< threads per inference (>= 1), given to every kernel at create
  /// The optimized network: compacted, topologically ordered, every tensor static. Constant
  /// layers are not executed; their outputs point into the weights.
  NetworkDefinition network;
  /// Per layer: the chosen tactic's name ("" for Constant layers).
  std::vector<std::string> tactics;
  /// Per tensor: byte offset in the activation arena, or -1 (inputs, outputs, constants).
  std::vector<int64_t> arenaOffsets;
  uint64_t arenaBytes = 0;
  uint64_t activationBytes = 0;  ///< sum of activation sizes without sharing
  std::vector<IOTensorInfo> inputs;
  std::vector<IOTensorInfo> outputs;
  std::vector<std::string> buildLog;
};

/// Fills `data.inputs`/`data.outputs` from the network (source shapes from `sourceShapes`, by
/// input/output index, when given).
void describeIO(EngineData& data, const std::vector<Shape>& inputSourceShapes,
                const std::vector<Shape>& outputSourceShapes);

}  // namespace kiln
