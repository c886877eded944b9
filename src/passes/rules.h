// kiln — the optimizer's rule sets, one per pipeline pass (pipeline.cc), each in its own file.
#pragma once

#include <vector>

#include "passes/rewrite.h"

namespace kiln {

/// No-op removal and algebraic identities (rules_simplify.cc).
std::vector<Rule> simplifyRules();
/// Constants folded into conv / matmul weights and bias: BatchNorm, bias adds (rules_weights.cc).
std::vector<Rule> weightRules();
/// GELU, SiLU, HardSwish, LayerNorm, RMSNorm, Softmax spelled out (rules_idioms.cc).
std::vector<Rule> idiomRules();
/// Reshapes sunk through the layers they surround (rules_reshape.cc).
std::vector<Rule> reshapeRules();
/// Sibling matmuls / convolutions merged into one wider layer (rules_horizontal.cc).
std::vector<Rule> horizontalRules();
/// Scaled dot-product attention -> Attention (rules_attention.cc).
std::vector<Rule> attentionRules();
/// Activation and residual add fused as conv / matmul epilogues (rules_epilogue.cc).
std::vector<Rule> epilogueRules();
/// Chains of elementwise layers fused into one Pointwise layer (rules_pointwise.cc).
std::vector<Rule> pointwiseRules();

}  // namespace kiln
