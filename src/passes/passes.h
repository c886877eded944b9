// kiln — graph passes run by the builder, in this order:
//   bindProfiles -> inferShapes -> eliminateDeadCode -> inferAndFold -> eliminateDeadCode
//   -> removeIdentities -> materializeOutputs
// Each pass records what it did in the build log (STYLE.md: every transformation observable).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "kiln/builder.h"
#include "kiln/network.h"
#include "kiln/status.h"

namespace kiln {

/// Build log: one line per rule firing or pass summary.
struct BuildLog {
  std::vector<std::string> lines;
  void add(std::string line) { lines.push_back(std::move(line)); }
};

/// What bindProfiles decided.
struct BoundProfiles {
  std::vector<OptimizationProfile> profiles;  ///< at least one (possibly without ranges)
  SymbolValues fixed;                         ///< symbols replaced by constants
  SymbolValues opt;                           ///< the representative value of every input symbol
};

/// Checks the shapes of `config` (inputShapes or profiles, symbols) against the network's
/// inputs, replaces every symbol that they fix to one value by that constant throughout the
/// network, and chooses the representative shape (the profile's opt; free dims: 1 for an
/// input's first dim, 64 for others). Errors name the input, the dim and the profile.
Expected<BoundProfiles> bindProfiles(NetworkDefinition& net, const BuilderConfig& config,
                                     BuildLog& log);

/// Runs symbolic shape inference over every layer in order (inferLayer).
Status inferShapes(NetworkDefinition& net);

/// Removes layers none of whose outputs reach a graph output. Returns how many.
int eliminateDeadCode(NetworkDefinition& net, BuildLog& log);

/// Walks the network in order, inferring every tensor's type and (symbolic) shape, and replaces
/// each layer whose inputs are all constants (and whose outputs total at most
/// `foldLimitBytes`) by Constant layers holding its outputs, computed by the reference backend,
/// and each layer whose integer outputs are known from shapes alone (Shape -> Gather -> Concat
/// ...) by a Constant, or a SymbolicConstant when the values depend on input dims. This removes
/// the exporters' shape arithmetic whether shapes are static or not.
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
