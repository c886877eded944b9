// kiln — the graph passes that are not rule sets. The pipeline that orders them with the
// optimizer's rule passes is declared in pipeline.cc. Each pass records what it did in the
// build log and, where it removes or folds layers, as rewrite events in the network's
// provenance (STYLE.md: every transformation observable).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/evaluator.h"
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
/// Constant layers holding its outputs, computed by `evaluator`. This removes the exporters'
/// shape arithmetic once shapes are static.
Status inferAndFold(NetworkDefinition& net, size_t foldLimitBytes,
                    const ConstantEvaluator& evaluator, BuildLog& log);

/// Makes every graph output the output of an executed layer: outputs that are graph inputs
/// or constants, or that appear twice, get an Identity copy.
Status materializeOutputs(NetworkDefinition& net, BuildLog& log);

}  // namespace kiln
