// kiln — the pass manager: one ordered pipeline, declared in one place (pipeline.cc), run with
// the IR verified after every pass (debug builds and tests), the text IR dumped before and
// after each pass on request, and any optional pass switched off by name.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/capabilities.h"
#include "ir/evaluator.h"
#include "kiln/network.h"
#include "passes/passes.h"
#include "passes/rewrite.h"

namespace kiln {

/// Everything a pass may use.
struct PassContext {
  NetworkDefinition& net;
  BuildLog& log;
  const TargetCapabilities& target;
  const ConstantEvaluator& evaluator;
  const BuilderConfig& config;  ///< shapes, profiles and fixed symbols (bind-shapes)
  size_t foldLimitBytes = 0;
  /// Set by bind-shapes: the profiles, fixed symbols and representative shape, and the output
  /// shapes as the model declares them (after inference, before any rewrite).
  BoundProfiles bound;
  std::vector<Shape> outputSource;
  /// Rule hits of the whole pipeline run, by rule name.
  RuleHits hits;
};

/// One pass of the pipeline.
struct Pass {
  std::string name;     ///< "fuse-epilogues": for --disable-pass, logs and IR dumps
  std::string summary;  ///< one line for `kiln build --help-passes` and the docs
  /// Required passes make the network buildable (shape binding, folding of shape arithmetic,
  /// output copies); they cannot be disabled.
  bool required = false;
  std::function<Status(PassContext&)> run;
};

/// How to run a pipeline.
struct PipelineOptions {
  /// Optional passes to skip, by name; "all" skips every optional pass.
  std::vector<std::string> disabled;
  /// When not empty, the text IR is written there as NN-<pass>.before.txt / .after.txt.
  std::string dumpDir;
  /// Verify the IR (structure, use-def index, topological order) after every pass.
  bool verify = false;
};

/// The default pipeline, in order.
const std::vector<Pass>& defaultPipeline();

/// Runs `passes` in order on ctx.net. Unknown names in options.disabled are an error listing
/// the known ones; a verification failure names the pass after which it happened.
Status runPipeline(const std::vector<Pass>& passes, PassContext& ctx,
                   const PipelineOptions& options);

/// Runs one rule set as a pass step: hits are added to ctx.hits and logged.
Status runRulePass(PassContext& ctx, const std::string& pass, const std::vector<Rule>& rules);

}  // namespace kiln
