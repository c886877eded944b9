// ONNX loss ops: NegativeLogLikelihoodLoss -> NegativeLogLikelihood, and
// SoftmaxCrossEntropyLoss -> Softmax{log, axis 1} then NegativeLogLikelihood.
#include "importer/onnx/importer.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

/// The attributes shared by both ops: reduction ("none" | "sum" | "mean") and ignore_index.
Expected<NegativeLogLikelihoodAttrs> lossAttrs(NodeContext& ctx) {
  NegativeLogLikelihoodAttrs a;
  KILN_ASSIGN_OR_RETURN(std::string reduction, ctx.getString("reduction", "mean"));
  if (reduction == "none")
    a.reduction = LossReduction::kNone;
  else if (reduction == "sum")
    a.reduction = LossReduction::kSum;
  else if (reduction == "mean")
    a.reduction = LossReduction::kMean;
  else
    return invalidModel("attribute 'reduction' is '" + reduction +
                        "', expected 'none', 'sum' or 'mean'");
  if (ctx.hasAttr("ignore_index")) {
    a.hasIgnoreIndex = true;
    KILN_ASSIGN_OR_RETURN(a.ignoreIndex, ctx.requireInt("ignore_index"));
  }
  return a;
}

}  // namespace

// NegativeLogLikelihoodLoss(input[N, C, d...], target[N, d...], weight[C]?).
Status importNegativeLogLikelihoodLoss(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(NegativeLogLikelihoodAttrs a, lossAttrs(ctx));
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId target, ctx.input(1));
  std::vector<TensorId> inputs = {x, target};
  if (ctx.hasInput(2)) inputs.push_back(ctx.optionalInput(2));
  return ctx.addOutputLayer(a, inputs);
}

// SoftmaxCrossEntropyLoss(scores[N, C, d...], labels[N, d...], weights[C]?) -> loss, and the
// optional second output log_prob = log_softmax(scores, axis 1).
Status importSoftmaxCrossEntropyLoss(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(NegativeLogLikelihoodAttrs a, lossAttrs(ctx));
  KILN_ASSIGN_OR_RETURN(TensorId scores, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId labels, ctx.input(1));
  SoftmaxAttrs logSoftmax;
  logSoftmax.axis = 1;
  logSoftmax.log = true;
  KILN_ASSIGN_OR_RETURN(TensorId logProb, ctx.addInternal("log_prob", logSoftmax, {scores}));
  std::vector<TensorId> inputs = {logProb, labels};
  if (ctx.hasInput(2)) inputs.push_back(ctx.optionalInput(2));
  KILN_RETURN_IF_ERROR(ctx.addOutputLayer(a, inputs));
  if (ctx.numOutputs() > 1 && ctx.outputUsed(1)) return ctx.setOutput(1, logProb);
  return Status::ok();
}

}  // namespace kiln::onnx_import
