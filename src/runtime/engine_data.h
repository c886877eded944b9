// kiln — what an Engine holds: the optimized network, chosen tactics and the memory plan.
// Built by the Builder, written and read by src/plan, run by ExecutionContext.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "kiln/network.h"
#include "runtime/shape_pass.h"

namespace kiln {

struct EngineData {
  std::string kilnVersion;
  std::string backend;  ///< backend name ("reference")
  std::string device;   ///< device signature the plan was built for
  std::string source;   ///< where the model came from (file name), informational
  int32_t threads = 1;  ///< threads per inference (>= 1), given to every kernel at create
  /// The optimized network: compacted, topologically ordered, every tensor typed, shapes
  /// symbolic where the engine accepts several. Constant and SymbolicConstant layers are not
  /// executed; their outputs point into the weights or into the context's shape values.
  NetworkDefinition network;
  /// Per layer: the chosen tactic's name ("" for Constant layers).
  std::vector<std::string> tactics;
  /// Profiles the engine accepts (at least one; a free profile has no input ranges). Input
  /// ranges are checked by ExecutionContext::setInputShape.
  std::vector<OptimizationProfile> profiles;
  /// Symbol values of the representative shape: kernels are created and tactics timed with
  /// these (other symbols count as 1).
  SymbolValues optSymbols;
  /// Memory at the representative shape, for `kiln inspect` (contexts plan their own arena
  /// when their shapes are set).
  uint64_t arenaBytes = 0;
  uint64_t activationBytes = 0;  ///< sum of activation sizes without sharing
  size_t activationCount = 0;
  /// Memory limits (bytes) enforced when a context's shapes are set.
  uint64_t maxTensorBytes = 0;
  uint64_t maxArenaBytes = 0;
  std::vector<IOTensorInfo> inputs;
  std::vector<IOTensorInfo> outputs;
  std::vector<std::string> buildLog;
  /// What the shape pass needs (derived from the network; not stored in plans).
  ShapeProgram program;
};

/// Derives what EngineData holds that plans do not store (the shape program, I/O infos and the
/// representative memory figures), once the network, profiles and opt symbols are set.
Status finalizeEngineData(EngineData& data, const std::vector<Shape>& inputSourceShapes,
                          const std::vector<Shape>& outputSourceShapes);

/// The layers' memory plan for one set of concrete shapes: arena offsets per tensor (-1 when
/// not in the arena) and the arena size. Tensors written by executed layers live in the arena,
/// except graph outputs (bound by the caller).
struct ArenaPlan {
  std::vector<int64_t> offsets;
  uint64_t arenaBytes = 0;
  uint64_t totalBytes = 0;
  size_t count = 0;
};
ArenaPlan planArena(const NetworkDefinition& net, const ShapeProgram& program,
                    const ConcreteShapes& shapes);

/// Checks `shapes` against the engine's memory limits: an error naming the tensor (or the
/// arena) and the size it needs.
Status checkMemoryLimits(const EngineData& data, const ConcreteShapes& shapes, uint64_t arenaBytes,
                         const std::string& when);

/// Fills `data.inputs`/`data.outputs` from the network (source shapes from `sourceShapes`, by
/// input/output index, when given).
void describeIO(EngineData& data, const std::vector<Shape>& inputSourceShapes,
                const std::vector<Shape>& outputSourceShapes);

}  // namespace kiln
