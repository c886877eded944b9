// kiln — the optimizer pipeline, declared in one place. Order matters:
//   - shapes are bound and shape arithmetic folded first, so every rule sees types and dims;
//   - rewrites that fold constants into weights and recognize idioms (GELU, LayerNorm,
//     attention) run before the fusions that would otherwise swallow their parts;
//   - epilogue fusion runs after attention (whose projections it then fuses), and elementwise
//     chain fusion last, on what no other rule wanted.
#include <memory>

#include "passes/pass_manager.h"
#include "passes/rules.h"

namespace kiln {

namespace {

Pass rulePass(std::string name, std::string summary, std::vector<Rule> (*rules)()) {
  // Each pass owns its rule set (built once, with the pipeline).
  auto set = std::make_shared<const std::vector<Rule>>(rules());
  return Pass{name, std::move(summary), false,
              [name, set](PassContext& ctx) { return runRulePass(ctx, name, *set); }};
}

}  // namespace

const std::vector<Pass>& defaultPipeline() {
  static const std::vector<Pass> pipeline = {
      {"bind-shapes",
       "check the profiles, substitute the symbols they fix, infer every tensor's symbolic shape",
       true,
       [](PassContext& c) -> Status {
         KILN_ASSIGN_OR_RETURN(c.bound, bindProfiles(c.net, c.config, c.log));
         KILN_RETURN_IF_ERROR(inferShapes(c.net));
         c.outputSource.clear();
         for (TensorId t : c.net.outputs())
           c.outputSource.push_back(c.net.tensor(t).shape);
         return Status::ok();
       }},
      {"dce", "remove layers whose outputs reach no graph output", false,
       [](PassContext& c) {
         eliminateDeadCode(c.net, c.log);
         return Status::ok();
       }},
      {"fold", "infer types and dims; fold layers whose inputs are all constants", true,
       [](PassContext& c) { return inferAndFold(c.net, c.foldLimitBytes, c.evaluator, c.log); }},
      rulePass("simplify",
               "remove no-ops (identity, same-type casts, same-shape reshapes and expands, "
               "cancelling transposes) and algebraic identities (x*1, x+0, x/1)",
               &simplifyRules),
      rulePass("fold-weights",
               "fold BatchNorm, per-channel scales and bias adds into the weights and bias of "
               "the convolution or matrix multiply before them",
               &weightRules),
      rulePass("idioms",
               "recognize GELU (erf, tanh), SiLU, HardSwish, LayerNorm, RMSNorm and softmax "
               "spelled out as elementwise chains",
               &idiomRules),
      rulePass("sink-reshapes", "drop the flatten / unflatten around batched matrix multiplies",
               &reshapeRules),
      rulePass("horizontal", "merge sibling matmuls / convolutions on one input into one layer",
               &horizontalRules),
      rulePass("simplify",
               "remove no-ops (identity, same-type casts, same-shape reshapes and expands, "
               "cancelling transposes) and algebraic identities (x*1, x+0, x/1)",
               &simplifyRules),
      rulePass("attention",
               "recognize scaled dot-product attention (with its head reshapes) as Attention",
               &attentionRules),
      rulePass("sink-reshapes", "drop the flatten / unflatten around batched matrix multiplies",
               &reshapeRules),
      rulePass("epilogues", "fuse activations and residual adds into conv / matmul epilogues",
               &epilogueRules),
      rulePass("fuse-elementwise", "fuse chains of elementwise layers into Pointwise layers",
               &pointwiseRules),
      {"dce", "remove layers whose outputs reach no graph output", false,
       [](PassContext& c) {
         eliminateDeadCode(c.net, c.log);
         return Status::ok();
       }},
      {"materialize-outputs", "give graph outputs that are inputs or constants a copy layer", true,
       [](PassContext& c) { return materializeOutputs(c.net, c.log); }},
  };
  return pipeline;
}

}  // namespace kiln
