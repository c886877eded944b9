// kiln — precision assignment: with `--precision fp16|bf16`, every layer that may compute in
// the narrow type (by kind, and by the target's tactics) reads and writes it; reformat (Cast)
// layers go in only where neighbours disagree, and the network's inputs and outputs keep their
// declared types.
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"
#include "kiln/network.h"
#include "kiln/status.h"
#include "runtime/shape_pass.h"

namespace kiln {

/// What the assignment did, for the build log.
struct PrecisionReport {
  int lowered = 0;    ///< layers that now compute in the narrow type
  int reformats = 0;  ///< Cast layers inserted between disagreeing neighbours (and at I/O)
  int converted = 0;  ///< float32 constants stored again in the narrow type
  /// One line per float layer that stayed float32: "NAME (Kind): reason".
  std::vector<std::string> keptFloat32;
};

/// Lowers the float32 layers of `net` (compacted, topologically ordered) to `narrow`
/// (kFloat16 or kBFloat16) where `target` has a tactic for the narrowed layer at the shapes of
/// `opt`. Layers stay float32 when their kind is not one that is accurate in the narrow type
/// (reductions, cumulative sums; for float16 also exp, log and pow, which leave its range) or
/// when inference or the target refuses them; the report says why. Param inputs (values that
/// decide shapes or scales) keep their types. The network stays compacted and ordered.
Expected<PrecisionReport> lowerPrecision(NetworkDefinition& net, const Backend& target,
                                         DataType narrow, const ConcreteShapes& opt);

}  // namespace kiln
