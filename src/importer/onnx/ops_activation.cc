// ONNX activations (-> Activation), parameter-free elementwise functions (-> Unary), Clip, and
// the ops that are the identity at inference (Identity, Dropout).
#include <limits>

#include "importer/onnx/importer.h"
#include "onnx.pb.h"

namespace kiln::onnx_import {

namespace {

Status importActivation(NodeContext& ctx, ActivationKind kind, float alpha = 0, float beta = 0) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  return ctx.addOutputLayer(ActivationAttrs{kind, alpha, beta}, {x});
}

Status importUnary(NodeContext& ctx, UnaryKind kind) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  return ctx.addOutputLayer(UnaryAttrs{kind}, {x});
}

/// The value of a one-element constant input, or nothing when the input is not a constant.
Expected<std::optional<double>> scalarInput(NodeContext& ctx, int i) {
  const Weights* w = ctx.constantInput(i);
  if (!w) return std::optional<double>();
  if (w->count() != 1)
    return invalidModel("input #" + std::to_string(i) + " must hold one value, it has shape " +
                        dimsToString(w->dims()));
  KILN_ASSIGN_OR_RETURN(std::vector<double> v, w->toDoubles());
  return std::optional<double>(v[0]);
}

}  // namespace

#define KILN_ACTIVATION_IMPORTER(Op, Kind)                 \
  Status import##Op(NodeContext& ctx) {                    \
    return importActivation(ctx, ActivationKind::k##Kind); \
  }
KILN_ACTIVATION_IMPORTER(Relu, Relu)
KILN_ACTIVATION_IMPORTER(Sigmoid, Sigmoid)
KILN_ACTIVATION_IMPORTER(Tanh, Tanh)
KILN_ACTIVATION_IMPORTER(Softplus, Softplus)
KILN_ACTIVATION_IMPORTER(HardSwish, HardSwish)
KILN_ACTIVATION_IMPORTER(Softsign, Softsign)
KILN_ACTIVATION_IMPORTER(Mish, Mish)
#undef KILN_ACTIVATION_IMPORTER

#define KILN_UNARY_IMPORTER(Op)                \
  Status import##Op(NodeContext& ctx) {        \
    return importUnary(ctx, UnaryKind::k##Op); \
  }
KILN_UNARY_IMPORTER(Neg)
KILN_UNARY_IMPORTER(Abs)
KILN_UNARY_IMPORTER(Exp)
KILN_UNARY_IMPORTER(Log)
KILN_UNARY_IMPORTER(Sqrt)
KILN_UNARY_IMPORTER(Reciprocal)
KILN_UNARY_IMPORTER(Erf)
KILN_UNARY_IMPORTER(Not)
KILN_UNARY_IMPORTER(IsNaN)
KILN_UNARY_IMPORTER(Ceil)
KILN_UNARY_IMPORTER(Floor)
KILN_UNARY_IMPORTER(Round)
KILN_UNARY_IMPORTER(Sign)
KILN_UNARY_IMPORTER(Sin)
KILN_UNARY_IMPORTER(Cos)
KILN_UNARY_IMPORTER(Tan)
KILN_UNARY_IMPORTER(Asin)
KILN_UNARY_IMPORTER(Acos)
KILN_UNARY_IMPORTER(Atan)
KILN_UNARY_IMPORTER(Sinh)
KILN_UNARY_IMPORTER(Cosh)
KILN_UNARY_IMPORTER(Asinh)
KILN_UNARY_IMPORTER(Acosh)
KILN_UNARY_IMPORTER(Atanh)
KILN_UNARY_IMPORTER(BitwiseNot)
#undef KILN_UNARY_IMPORTER

// IsInf: both signs, one sign, or neither (then the output is all false: x != x is not it, so
// it is isinf(x) and isnan(x) together, which no value satisfies).
Status importIsInf(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t neg, ctx.getInt("detect_negative", 1));
  KILN_ASSIGN_OR_RETURN(int64_t pos, ctx.getInt("detect_positive", 1));
  if (neg != 0 && pos != 0) return importUnary(ctx, UnaryKind::kIsInf);
  if (pos != 0) return importUnary(ctx, UnaryKind::kIsPosInf);
  if (neg != 0) return importUnary(ctx, UnaryKind::kIsNegInf);
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  KILN_ASSIGN_OR_RETURN(TensorId inf, ctx.addInternal("isinf", UnaryAttrs{UnaryKind::kIsInf}, {x}));
  KILN_ASSIGN_OR_RETURN(TensorId nan, ctx.addInternal("isnan", UnaryAttrs{UnaryKind::kIsNaN}, {x}));
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kAnd}, {inf, nan});
}

Status importCelu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.getFloat("alpha", 1.0f));
  if (alpha == 0) return invalidModel("attribute 'alpha' must not be 0");
  return importActivation(ctx, ActivationKind::kCelu, alpha);
}

Status importSwish(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.getFloat("alpha", 1.0f));
  return importActivation(ctx, ActivationKind::kSwish, alpha);
}

Status importThresholdedRelu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.getFloat("alpha", 1.0f));
  return importActivation(ctx, ActivationKind::kThresholdedRelu, alpha);
}

// Shrink(lambd, bias): the IR calls them alpha and beta.
Status importShrink(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float lambd, ctx.getFloat("lambd", 0.5f));
  KILN_ASSIGN_OR_RETURN(float bias, ctx.getFloat("bias", 0.0f));
  return importActivation(ctx, ActivationKind::kShrink, lambd, bias);
}

Status importLeakyRelu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.getFloat("alpha", 0.01f));
  return importActivation(ctx, ActivationKind::kLeakyRelu, alpha);
}

Status importElu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.getFloat("alpha", 1.0f));
  return importActivation(ctx, ActivationKind::kElu, alpha);
}

Status importHardSigmoid(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.getFloat("alpha", 0.2f));
  KILN_ASSIGN_OR_RETURN(float beta, ctx.getFloat("beta", 0.5f));
  return importActivation(ctx, ActivationKind::kHardSigmoid, alpha, beta);
}

// Selu: gamma * (x < 0 ? alpha * (exp(x) - 1) : x); the IR calls gamma beta. Opset 1 has
// the constants' 4-digit defaults, opset 6 on the full ones.
Status importSelu(NodeContext& ctx) {
  const bool v1 = ctx.opset() < 6;
  KILN_ASSIGN_OR_RETURN(float alpha,
                        ctx.getFloat("alpha", v1 ? 1.6732f : 1.67326319217681884765625f));
  KILN_ASSIGN_OR_RETURN(float gamma,
                        ctx.getFloat("gamma", v1 ? 1.0507f : 1.05070102214813232421875f));
  return importActivation(ctx, ActivationKind::kSelu, alpha, gamma);
}

// Gelu (opset 20): approximate = "none" (erf form) or "tanh".
Status importGelu(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::string approx, ctx.getString("approximate", "none"));
  if (approx == "none") return importActivation(ctx, ActivationKind::kGeluErf);
  if (approx == "tanh") return importActivation(ctx, ActivationKind::kGeluTanh);
  return invalidModel("attribute 'approximate' is '" + approx + "', expected 'none' or 'tanh'");
}

// Clip: bounds are attributes before opset 11 and optional inputs from 11. Constant (or absent)
// bounds give one Activation kClip(alpha=min, beta=max), absent ones as -inf/+inf; a computed
// bound gives min(max(x, lo), hi) as Elementwise layers.
Status importClip(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  constexpr float kInf = std::numeric_limits<float>::infinity();
  if (ctx.opset() < 11) {
    // Opsets 6-10 default the bounds to the float range; opset 1 leaves absent ones open.
    const float bound = ctx.opset() >= 6 ? std::numeric_limits<float>::max() : kInf;
    KILN_ASSIGN_OR_RETURN(float lo, ctx.getFloat("min", -bound));
    KILN_ASSIGN_OR_RETURN(float hi, ctx.getFloat("max", bound));
    return ctx.addOutputLayer(ActivationAttrs{ActivationKind::kClip, lo, hi}, {x});
  }
  TensorId lo = ctx.optionalInput(1);
  TensorId hi = ctx.optionalInput(2);
  KILN_ASSIGN_OR_RETURN(std::optional<double> loValue, scalarInput(ctx, 1));
  KILN_ASSIGN_OR_RETURN(std::optional<double> hiValue, scalarInput(ctx, 2));
  if ((lo == kNoTensor || loValue) && (hi == kNoTensor || hiValue)) {
    float a = loValue ? static_cast<float>(*loValue) : -kInf;
    float b = hiValue ? static_cast<float>(*hiValue) : kInf;
    return ctx.addOutputLayer(ActivationAttrs{ActivationKind::kClip, a, b}, {x});
  }
  if (hi == kNoTensor) return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kMax}, {x, lo});
  TensorId t = x;
  if (lo != kNoTensor) {
    KILN_ASSIGN_OR_RETURN(t,
                          ctx.addInternal("max", ElementwiseAttrs{ElementwiseKind::kMax}, {x, lo}));
  }
  return ctx.addOutputLayer(ElementwiseAttrs{ElementwiseKind::kMin}, {t, hi});
}

// Identity of a tensor, a sequence or an optional (opset 14 and 16) passes its input through.
Status importIdentity(NodeContext& ctx) {
  return ctx.forwardInput(0, 0);
}

// Dropout at inference is the identity and its mask is all true (expand(true, shape(x)); of
// x's type before opset 10, bool from 10). Training mode has no inference meaning, so a model
// that may enable it is refused: opsets 1-6 are in training mode unless is_test is set, and
// their mask is not filled in test mode.
Status importDropout(NodeContext& ctx) {
  KILN_ASSIGN_OR_RETURN(TensorId x, ctx.input(0));
  if (ctx.opset() < 7) {
    KILN_ASSIGN_OR_RETURN(int64_t isTest, ctx.getInt("is_test", 0));
    if (isTest == 0)
      return unsupported(
          "is_test=0 (training mode, random dropout) is not supported "
          "(inference only)");
    KILN_RETURN_IF_ERROR(ctx.requireUnusedOutputs(1));
    return ctx.setOutput(0, x);
  }
  if (ctx.hasInput(2)) {
    KILN_ASSIGN_OR_RETURN(std::optional<double> mode, scalarInput(ctx, 2));
    if (!mode || *mode != 0)
      return unsupported("training_mode must be a constant false for inference");
  }
  KILN_RETURN_IF_ERROR(ctx.setOutput(0, x));
  if (!ctx.outputUsed(1)) return Status::ok();
  KILN_ASSIGN_OR_RETURN(TensorId shape, ctx.addInternal("shape", ShapeOfAttrs{}, {x}));
  KILN_ASSIGN_OR_RETURN(TensorId yes, ctx.addScalarConstant("true", 1, DataType::kBool));
  KILN_ASSIGN_OR_RETURN(TensorId mask, ctx.addInternal("mask", ExpandAttrs{}, {yes, shape}));
  if (ctx.opset() < 10) {
    std::optional<DataType> dtype = ctx.dtypeOf(x);
    if (!dtype)
      return unsupported("the element type of '" + ctx.net().tensor(x).name +
                         "' must be known at import for the mask output before opset 10");
    KILN_ASSIGN_OR_RETURN(mask, ctx.addInternal("mask_cast", CastAttrs{*dtype}, {mask}));
  }
  return ctx.setOutput(1, mask);
}

}  // namespace kiln::onnx_import
