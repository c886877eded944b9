// kiln — the optimizer's account of an engine: where every source node went and which rules
// fired (`kiln build --explain`, `kiln inspect`).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kiln/engine.h"

namespace kiln {

/// What became of one source (ONNX) node.
struct SourceNodeFate {
  enum class Fate {
    kLayer,        ///< its work runs in executed layers (`layers`)
    kConstant,     ///< it was folded into constants (`layers` names them)
    kRemoved,      ///< a rule removed it (`removedBy`): a no-op, absorbed into attributes, dead
    kUnaccounted,  ///< none of the above: a provenance bug
  };
  std::string name;
  std::string op;
  Fate fate = Fate::kUnaccounted;
  std::vector<std::string> layers;
  /// Every rule whose events name this node, in firing order ("fold", "fuse-epilogue", ...).
  std::vector<std::string> rules;
  /// "pass/rule" of the event that removed it (kRemoved).
  std::string removedBy;
};

/// "layer", "constant", "removed", "unaccounted"
const char* fateName(SourceNodeFate::Fate f);

/// The whole account.
struct Explanation {
  std::vector<SourceNodeFate> nodes;  ///< in source order
  /// Firings per rule (optimizer rules, "fold", "dce", "alias" at import).
  std::map<std::string, int> ruleHits;
  size_t executedLayers = 0;
};

/// Builds the account from the engine's provenance (kept in plans too).
Explanation explain(const Engine& engine);

}  // namespace kiln
