// kiln — a ConstantEvaluator that runs layers on a host backend's kernels. The builder gives
// passes one over the reference backend, so folding is computed by the oracle without passes
// naming it.
#pragma once

#include "backends/backend.h"
#include "ir/evaluator.h"

namespace kiln {

/// Evaluates constant layers with the first tactic `backend` offers (a host backend).
class BackendEvaluator final : public ConstantEvaluator {
 public:
  explicit BackendEvaluator(const Backend& backend) : backend_(backend) {}
  Expected<std::vector<Weights>> evaluate(const LayerDesc& desc) const override;

 private:
  const Backend& backend_;
};

/// Runs one layer whose inputs are all constants (desc.constantInputs) on the reference
/// backend and returns its outputs (desc.outputs must be inferred). The runtime's shape pass
/// uses it for host-evaluated shape tensors.
Expected<std::vector<Weights>> evaluateOnReference(const LayerDesc& desc);

}  // namespace kiln
