// kiln — the optimizer's rule sets, one per pipeline pass (pipeline.cc), each in its own file.
#pragma once

#include <vector>

#include "passes/rewrite.h"

namespace kiln {

/// No-op removal and algebraic identities (rules_simplify.cc).
std::vector<Rule> simplifyRules();

}  // namespace kiln
