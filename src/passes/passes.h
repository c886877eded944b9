// kiln — graph passes run by the builder, in this order:
//   bindInputShapes -> eliminateDeadCode -> inferAndFold -> eliminateDeadCode
//   -> removeIdentities -> materializeOutputs
// Each pass records what it did in the build log (STYLE.md: every transformation observable).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "kiln/network.h"
#include "kiln/status.h"

namespace kiln {

/// Build log: one line per rule firing or pass summary.
struct BuildLog {
  std::vector<std::string> lines;
  void add(std::string line) { lines.push_back(std::move(line)); }
};

/// Gives every graph input a static shape: from `inputShapes` (by name), else from `symbols`.
/// Every symbol is then replaced by its value throughout the network. Error naming the input
/// when a dimension stays unknown or a given shape contradicts a static one.
Status bindInputShapes(NetworkDefinition& net, const std::map<std::string, Dims>& inputShapes,
                       const std::map<std::string, int64_t>& symbols, BuildLog& log);

/// Removes layers none of whose outputs reach a graph output. Returns how many.
int eliminateDeadCode(NetworkDefinition& net, BuildLog& log);

/// Walks the network in order, inferring every tensor's type and dims, and replaces each
/// layer whose inputs are all constants (and whose outputs total at most `foldLimitBytes`) by
/// Constant layers holding its outputs, computed by the reference backend. This removes the
/// exporters' shape arithmetic once shapes are static.
Status inferAndFold(NetworkDefinition& net, size_t foldLimitBytes, BuildLog& log);

/// Runs one layer whose inputs are all constants (desc.constantInputs) on the reference
/// backend and returns its outputs (desc.outputs must be inferred).
Expected<std::vector<Weights>> evaluateOnReference(const LayerDesc& desc);

/// Removes Identity layers (Unary kIdentity) and identity-shaped Shuffles whose input already
/// has the output's shape, rewiring their consumers. Returns how many.
int removeIdentities(NetworkDefinition& net, BuildLog& log);

/// Makes every graph output the output of an executed layer: outputs that are graph inputs
/// or constants, or that appear twice, get an Identity copy.
Status materializeOutputs(NetworkDefinition& net, BuildLog& log);

}  // namespace kiln
