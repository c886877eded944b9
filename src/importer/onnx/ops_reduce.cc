// ONNX Reduce* ops, ArgMax / ArgMin, CumSum and CumProd.
#include "importer/onnx/importer.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

/// Reduce*(data, axes?): `axes` is an attribute before `axesInputOpset` (13 for ReduceSum, 18
/// for the others) and an optional input from then on; the attribute form becomes a constant
/// input so the IR has one form.
Status importReduce(NodeContext& ctx, ReduceKind kind, int64_t axesInputOpset) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  ReduceAttrs a;
  a.kind = kind;
  KILN_ASSIGN_OR_RETURN(int64_t keepDims, ctx.getInt("keepdims", 1));
  a.keepDims = keepDims != 0;
  TensorId axes = kNoTensor;
  if (ctx.opset() >= axesInputOpset) {
    axes = ctx.optionalInput(1);
    KILN_ASSIGN_OR_RETURN(int64_t noop, ctx.getInt("noop_with_empty_axes", 0));
    a.noopWithEmptyAxes = noop != 0;
  } else if (ctx.hasAttr("axes")) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> values, ctx.getInts("axes"));
    axes = ctx.addIntsConstant("axes", values);
  }
  std::vector<TensorId> inputs = {x};
  if (axes != kNoTensor) inputs.push_back(axes);
  return ctx.addOutputLayer(a, inputs);
}

}  // namespace

Status importReduceSum(NodeContext& ctx) {
  return importReduce(ctx, ReduceKind::kSum, 13);
}

#define KILN_REDUCE_IMPORTER(Op, Kind)                 \
  Status import##Op(NodeContext& ctx) {                \
    return importReduce(ctx, ReduceKind::k##Kind, 18); \
  }
KILN_REDUCE_IMPORTER(ReduceMean, Mean)
KILN_REDUCE_IMPORTER(ReduceMax, Max)
KILN_REDUCE_IMPORTER(ReduceMin, Min)
KILN_REDUCE_IMPORTER(ReduceProd, Prod)
KILN_REDUCE_IMPORTER(ReduceSumSquare, SumSquare)
KILN_REDUCE_IMPORTER(ReduceL1, L1)
KILN_REDUCE_IMPORTER(ReduceL2, L2)
KILN_REDUCE_IMPORTER(ReduceLogSum, LogSum)
KILN_REDUCE_IMPORTER(ReduceLogSumExp, LogSumExp)
#undef KILN_REDUCE_IMPORTER

// CumSum / CumProd(x, axis) -> Cumulative{exclusive, reverse, product}.
Status importCumulative(NodeContext& ctx, bool product) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId axis, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(int64_t exclusive, ctx.getInt("exclusive", 0));
  KILN_ASSIGN_OR_RETURN(int64_t reverse, ctx.getInt("reverse", 0));
  return ctx.addOutputLayer(CumulativeAttrs{exclusive != 0, reverse != 0, product}, {x, axis});
}

Status importCumSum(NodeContext& ctx) {
  return importCumulative(ctx, false);
}
Status importCumProd(NodeContext& ctx) {
  return importCumulative(ctx, true);
}

// ArgMax / ArgMin(x; axis, keepdims, select_last_index) -> Reduce{kArgMax/kArgMin} with the
// axis as a constant axes input.
Status importArgReduce(NodeContext& ctx, ReduceKind kind) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.getInt("axis", 0));
  KILN_ASSIGN_OR_RETURN(int64_t keepDims, ctx.getInt("keepdims", 1));
  KILN_ASSIGN_OR_RETURN(int64_t last, ctx.getInt("select_last_index", 0));
  ReduceAttrs a;
  a.kind = kind;
  a.keepDims = keepDims != 0;
  a.selectLastIndex = last != 0;
  return ctx.addOutputLayer(a, {x, ctx.addIntsConstant("axis", {axis})});
}

Status importArgMax(NodeContext& ctx) {
  return importArgReduce(ctx, ReduceKind::kArgMax);
}
Status importArgMin(NodeContext& ctx) {
  return importArgReduce(ctx, ReduceKind::kArgMin);
}

}  // namespace kiln::onnx_import
