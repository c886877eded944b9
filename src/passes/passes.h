// kiln — the graph passes that are not rule sets. The pipeline that orders them with the
// optimizer's rule passes is declared in pipeline.cc. Each pass records what it did in the
// build log and, where it removes or folds layers, as rewrite events in the network's
// provenance (STYLE.md: every transformation observable).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/evaluator.h"
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
/// `foldLimitBytes`) by Constant layers holding its outputs, computed by `evaluator`, and each
/// layer whose integer outputs are known from shapes alone (Shape -> Gather -> Concat ...) by a
/// Constant, or a SymbolicConstant when the values depend on input dims. This removes the
/// exporters' shape arithmetic whether shapes are static or not.
Status inferAndFold(NetworkDefinition& net, size_t foldLimitBytes,
                    const ConstantEvaluator& evaluator, BuildLog& log);

/// Makes every graph output the output of an executed layer: outputs that are graph inputs
/// or constants, or that appear twice, get an Identity copy.
Status materializeOutputs(NetworkDefinition& net, BuildLog& log);

}  // namespace kiln
