// kiln — the interface through which passes evaluate layers whose inputs are all constants
// (constant folding, weight rewrites). The builder supplies an implementation backed by a
// backend (the reference backend's kernels); ir/ and passes/ never name a backend.
#pragma once

#include <vector>

#include "ir/layer_desc.h"

namespace kiln {

/// Runs one layer on constant inputs.
class ConstantEvaluator {
 public:
  virtual ~ConstantEvaluator() = default;
  /// The outputs of `desc.layer` for `desc.constantInputs` (every present input is constant and
  /// desc.outputs is inferred). Errors name the layer.
  virtual Expected<std::vector<Weights>> evaluate(const LayerDesc& desc) const = 0;
};

}  // namespace kiln
