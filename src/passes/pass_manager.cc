#include "passes/pass_manager.h"

#include "ir/describe.h"
#include "ir/shape_inference.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

namespace kiln {

namespace {

Status writeDump(const std::string& dir, size_t index, const std::string& pass, const char* when,
                 const NetworkDefinition& net) {
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%02zu-", index);
  std::filesystem::path p = std::filesystem::path(dir) / (prefix + pass + "." + when + ".txt");
  std::ofstream f(p);
  if (!f) return ioError("--dump-ir: cannot write '" + p.string() + "'");
  f << net.toString();
  if (!f) return ioError("--dump-ir: failed writing '" + p.string() + "'");
  return Status::ok();
}

/// Every layer produces what shape inference says it should (symbolic shapes compare by their
/// canonical form): a rewrite that rewired a layer to an input of another shape is caught here,
/// not at run time.
Status verifyShapes(const NetworkDefinition& net) {
  for (size_t i = 0; i < net.layers().size(); ++i) {
    const Layer& l = net.layers()[i];
    if (l.removed || l.kind() == LayerKind::kConstant || l.kind() == LayerKind::kSymbolicConstant)
      continue;
    bool known = true;
    for (TensorId t : l.outputs)
      known = known && net.tensor(t).shapeKnown;
    if (!known) continue;
    auto inferred = inferOutputs(inferDescOf(net, static_cast<LayerId>(i)));
    if (!inferred) return inferred.status();
    for (size_t k = 0; k < l.outputs.size() && k < inferred->size(); ++k) {
      const Tensor& x = net.tensor(l.outputs[k]);
      if (!consistentWithInferred(TensorType{x.dtype, x.shape}, (*inferred)[k]))
        return invalidModel("layer '" + l.name + "' (" + layerKindName(l.kind()) +
                            ") has outputs that its inputs do not give: tensor '" + x.name +
                            "' is " + dataTypeName(x.dtype) + shapeToString(x.shape) +
                            ", inference gives " + dataTypeName((*inferred)[k].dtype) +
                            shapeToString((*inferred)[k].shape));
    }
  }
  return Status::ok();
}

}  // namespace

Status runRulePass(PassContext& ctx, const std::string& pass, const std::vector<Rule>& rules) {
  RuleContext rc{ctx.net, ctx.target, ctx.evaluator, pass};
  KILN_ASSIGN_OR_RETURN(RuleHits hits, runRules(rc, rules));
  for (const auto& [rule, n] : hits) {
    ctx.hits[rule] += n;
    ctx.log.add(pass + ": " + rule + " x" + std::to_string(n));
  }
  return Status::ok();
}

Status runPipeline(const std::vector<Pass>& passes, PassContext& ctx,
                   const PipelineOptions& options) {
  std::set<std::string> known;
  for (const Pass& p : passes)
    known.insert(p.name);
  bool all = false;
  for (const std::string& d : options.disabled) {
    if (d == "all") {
      all = true;
      continue;
    }
    auto it =
        std::find_if(passes.begin(), passes.end(), [&](const Pass& p) { return p.name == d; });
    if (it == passes.end()) {
      std::string list;
      for (const Pass& p : passes)
        if (!p.required && list.find(" " + p.name + ",") == std::string::npos)
          list += " " + p.name + ",";
      return invalidArgument("--disable-pass: unknown pass '" + d + "' (optional passes:" + list +
                             " or all)");
    }
    if (it->required)
      return invalidArgument("--disable-pass: pass '" + d +
                             "' is required to build the network and cannot be disabled");
  }
  if (!options.dumpDir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.dumpDir, ec);
    if (ec) return ioError("--dump-ir: cannot create '" + options.dumpDir + "': " + ec.message());
  }
  for (size_t i = 0; i < passes.size(); ++i) {
    const Pass& p = passes[i];
    bool off = !p.required && (all || std::find(options.disabled.begin(), options.disabled.end(),
                                                p.name) != options.disabled.end());
    if (off) {
      ctx.log.add("pass " + p.name + ": disabled");
      continue;
    }
    if (!options.dumpDir.empty())
      KILN_RETURN_IF_ERROR(writeDump(options.dumpDir, i, p.name, "before", ctx.net));
    size_t before = ctx.net.liveLayerCount();
    KILN_RETURN_IF_ERROR(p.run(ctx).withContext("pass '" + p.name + "'"));
    size_t after = ctx.net.liveLayerCount();
    if (after != before)
      ctx.log.add("pass " + p.name + ": " + std::to_string(before) + " -> " +
                  std::to_string(after) + " layers");
    if (!options.dumpDir.empty())
      KILN_RETURN_IF_ERROR(writeDump(options.dumpDir, i, p.name, "after", ctx.net));
    if (options.verify) {
      Status s = ctx.net.verify();
      if (s.isOk()) s = verifyShapes(ctx.net);
      if (!s.isOk())
        return internalError("the IR fails verification after pass '" + p.name +
                             "': " + s.message());
    }
  }
  return Status::ok();
}

}  // namespace kiln
