// ONNX binary elementwise ops (numpy broadcasting from opset 7; before, the `broadcast` and
// `axis` attributes), variadic Max/Min/Sum/Mean, Pow, Mod, bitwise ops and shifts, PRelu and
// Where.
#include "importer/onnx/importer.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

/// The second operand of a binary op of opset < 7, made numpy-broadcastable to the first.
/// Before opset 7 B broadcasts to A only with broadcast=1 (else the shapes are equal), aligned
/// at the trailing dims, or with `axis` at A's dim `axis`: B = [3, 4] with axis = 1 against
/// A = [2, 3, 4, 5] is B = [3, 4, 1] in numpy terms, so trailing size-1 dims are appended.
Expected<TensorId> legacyBroadcastOperand(NodeContext& ctx, TensorId a, TensorId b) {
  KILN_ASSIGN_OR_RETURN(int64_t broadcast, ctx.getInt("broadcast", 0));
  if (broadcast == 0 || !ctx.hasAttr("axis")) return b;
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.getInt("axis", 0));
  std::optional<int64_t> rankA = ctx.rankOf(a);
  std::optional<int64_t> rankB = ctx.rankOf(b);
  if (!rankA || !rankB)
    return unsupported(
        "the ranks of the inputs must be known at import for the legacy 'axis' "
        "broadcast (declare their shapes in value_info)");
  const int64_t start = axis < 0 ? axis + *rankA : axis;
  const int64_t trailing = *rankA - start - *rankB;
  if (start < 0 || trailing < 0)
    return invalidModel("attribute 'axis' is " + std::to_string(axis) + ": input B of rank " +
                        std::to_string(*rankB) + " does not fit input A of rank " +
                        std::to_string(*rankA) + " from that axis");
  if (trailing == 0) return b;
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < trailing; ++i)
    axes.push_back(*rankB + i);
  TensorId axesConst = ctx.addIntsConstant("broadcast_axes", axes);
  return ctx.addInternal("broadcast_b", shuffleAttrs(ShuffleMode::kUnsqueeze), {b, axesConst});
}

Status importBinary(NodeContext& ctx, ElementwiseKind kind) {
  KILN_ASSIGN_OR_RETURN(TensorId a, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId b, ctx.input(1));
  if (ctx.opset() < 7) {
    KILN_ASSIGN_OR_RETURN(b, legacyBroadcastOperand(ctx, a, b));
  }
  return ctx.addOutputLayer(ElementwiseAttrs{kind}, {a, b});
}

/// f(x0, x1, ..., xn-1) as a left-to-right chain of binary layers; the last one carries the
/// node's output name. One input: the output is that input.
Status importVariadic(NodeContext& ctx, ElementwiseKind kind, bool mean) {
  std::vector<TensorId> xs;
  for (TensorId t : ctx.inputs())
    if (t != kNoTensor) xs.push_back(t);
  if (xs.empty()) return invalidModel(ctx.opType() + " needs at least one input");
  const int n = static_cast<int>(xs.size());
  if (n == 1) return ctx.setOutput(0, xs[0]);
  TensorId acc = xs[0];
  for (int i = 1; i < n; ++i) {
    if (i == n - 1 && !mean) return ctx.addOutputLayer(ElementwiseAttrs{kind}, {acc, xs[i]});
    KILN_ASSIGN_OR_RETURN(acc, ctx.addInternal(std::string(enumName(kind)) + std::to_string(i),
                                               ElementwiseAttrs{kind}, {acc, xs[i]}));
  }
  // Mean: (x0 + ... + xn-1) / n, the divisor in the inputs' element type.
  DataType dtype = ctx.dtypeOf(xs[0]).value_or(DataType::kFloat32);
  KILN_ASSIGN_OR_RETURN(TensorId count, ctx.addScalarConstant("count", n, dtype));
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kDiv}, {acc, count});
}

}  // namespace

#define KILN_BINARY_IMPORTER(Op, Kind)                  \
  Status import##Op(NodeContext& ctx) {                 \
    return importBinary(ctx, ElementwiseKind::k##Kind); \
  }
KILN_BINARY_IMPORTER(Add, Add)
KILN_BINARY_IMPORTER(Sub, Sub)
KILN_BINARY_IMPORTER(Mul, Mul)
KILN_BINARY_IMPORTER(Div, Div)
KILN_BINARY_IMPORTER(And, And)
KILN_BINARY_IMPORTER(Or, Or)
KILN_BINARY_IMPORTER(Xor, Xor)
KILN_BINARY_IMPORTER(Equal, Equal)
KILN_BINARY_IMPORTER(Less, Less)
KILN_BINARY_IMPORTER(LessOrEqual, LessOrEqual)
KILN_BINARY_IMPORTER(Greater, Greater)
KILN_BINARY_IMPORTER(GreaterOrEqual, GreaterOrEqual)
KILN_BINARY_IMPORTER(BitwiseAnd, BitwiseAnd)
KILN_BINARY_IMPORTER(BitwiseOr, BitwiseOr)
KILN_BINARY_IMPORTER(BitwiseXor, BitwiseXor)
#undef KILN_BINARY_IMPORTER

Status importMax(NodeContext& ctx) {
  return importVariadic(ctx, ElementwiseKind::kMax, false);
}
Status importMin(NodeContext& ctx) {
  return importVariadic(ctx, ElementwiseKind::kMin, false);
}
Status importSum(NodeContext& ctx) {
  return importVariadic(ctx, ElementwiseKind::kAdd, false);
}
Status importMean(NodeContext& ctx) {
  return importVariadic(ctx, ElementwiseKind::kAdd, true);
}

// Pow(base, exponent): ONNX allows an exponent of another type (float base, int exponent); the
// IR layer takes one type, so the exponent is cast to the base's type when both are known and
// differ.
Status importPow(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId base, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId exponent, ctx.input(1));
  std::optional<DataType> tb = ctx.dtypeOf(base);
  std::optional<DataType> te = ctx.dtypeOf(exponent);
  if (tb && te && *tb != *te) {
    KILN_ASSIGN_OR_RETURN(exponent, ctx.addInternal("exponent_cast", CastAttrs{*tb}, {exponent}));
  }
  if (ctx.opset() < 7) {
    KILN_ASSIGN_OR_RETURN(exponent, legacyBroadcastOperand(ctx, base, exponent));
  }
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kPow}, {base, exponent});
}

// Mod(a, b, fmod): integers take the divisor's sign (fmod = 0) or the dividend's (fmod = 1);
// floats always take the dividend's (C fmod), as the ONNX reference does whatever `fmod` says.
Status importMod(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t fmod, ctx.getInt("fmod", 0));
  if (fmod != 0 && fmod != 1)
    return invalidModel("attribute 'fmod' is " + std::to_string(fmod) + ", expected 0 or 1");
  KILN_ASSIGN_OR_RETURN(TensorId a, ctx.input(0));
  std::optional<DataType> t = ctx.dtypeOf(a);
  if (!t && fmod == 0)
    return unsupported("the element type of input #0 must be known at import (Mod with fmod=0)");
  const bool isFloat = t && (*t == DataType::kFloat32 || *t == DataType::kFloat64 ||
                             *t == DataType::kFloat16 || *t == DataType::kBFloat16);
  return importBinary(ctx, fmod == 1 || isFloat ? ElementwiseKind::kFmod : ElementwiseKind::kMod);
}

// BitShift(x, n, direction = "LEFT" | "RIGHT").
Status importBitShift(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::string direction, ctx.getString("direction", ""));
  if (direction == "LEFT") return importBinary(ctx, ElementwiseKind::kBitShiftLeft);
  if (direction == "RIGHT") return importBinary(ctx, ElementwiseKind::kBitShiftRight);
  return invalidModel("attribute 'direction' is '" + direction + "', expected LEFT or RIGHT");
}

// PRelu(x, slope): from opset 7 the slope broadcasts to x (numpy). Before, a slope of C values
// is per channel of x = [N, C, ...]: it is reshaped to [C, 1, ..., 1].
Status importPRelu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId slope, ctx.input(1));
  if (ctx.opset() < 7) {
    std::optional<int64_t> rankX = ctx.rankOf(x);
    std::optional<int64_t> rankS = ctx.rankOf(slope);
    if (!rankX || !rankS)
      return unsupported(
          "the ranks of x and slope must be known at import before opset 7 (declare their "
          "shapes in value_info)");
    if (*rankS == 1 && *rankX > 2) {
      std::vector<int64_t> axes;
      for (int64_t i = 1; i < *rankX - 1; ++i)
        axes.push_back(i);
      TensorId axesConst = ctx.addIntsConstant("slope_axes", axes);
      KILN_ASSIGN_OR_RETURN(
          slope, ctx.addInternal("slope_per_channel", shuffleAttrs(ShuffleMode::kUnsqueeze),
                                 {slope, axesConst}));
    }
  }
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kPRelu}, {x, slope});
}

// Where(condition, x, y) -> Select.
Status importWhere(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId c, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(1));
  KILN_ASSIGN_OR_RETURN(TensorId y, ctx.input(2));
  return ctx.addOutputLayer(SelectAttrs{}, {c, x, y});
}

}  // namespace kiln::onnx_import
