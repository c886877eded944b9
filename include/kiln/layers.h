// kiln — canonical IR layer kinds and their typed attributes.
//
// Each attribute struct lists its fields once, in `visit`, with their names. That one list drives
// the text dump, `kiln inspect --json`, the plan file and attribute equality, so a new field is
// added in one place. Defaults are the struct's member initializers.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "kiln/types.h"

namespace kiln {

// Enums used by attributes. Each list is declared once (X-macro) so that names for dumps and
// parsing come from the same place as the values. Append only: values are stored in plans.
//
// Math additions (ops-math), described here to keep the lists' columns:
//   Activation: softsign x / (1 + |x|); celu max(0, x) + min(0, alpha (exp(x / alpha) - 1));
//     swish x sigmoid(alpha x); mish x tanh(softplus(x)); thresholded_relu x > alpha ? x : 0;
//     shrink x < -alpha ? x + beta : (x > alpha ? x - beta : 0).
//   Unary: tan ... atanh (float); bitwise_not (integers); is_pos_inf, is_neg_inf (float -> bool).
//   Elementwise: mod (integers: the divisor's sign, numpy.mod), fmod (the dividend's sign, C
//     fmod); bit shifts and bitwise and/or/xor (integers; a shift by >= the width gives 0);
//     prelu a < 0 ? a * b : a.
//   Reduce: arg_max, arg_min (int64 index along one axis; the first of equal extremes unless
//     selectLastIndex).
#define KILN_ACTIVATION_KINDS(X)                                                      \
  X(Relu, "relu")       /* max(x, 0) */                                               \
  X(Clip, "clip")       /* min(max(x, alpha), beta) */                                \
  X(Sigmoid, "sigmoid") /* 1 / (1 + exp(-x)) */                                       \
  X(Tanh, "tanh")                                                                     \
  X(LeakyRelu, "leaky_relu")     /* x < 0 ? alpha * x : x */                          \
  X(Elu, "elu")                  /* x < 0 ? alpha * (exp(x) - 1) : x */               \
  X(HardSigmoid, "hard_sigmoid") /* max(0, min(1, alpha * x + beta)) */               \
  X(Softplus, "softplus")        /* log(1 + exp(x)) */                                \
  X(GeluErf, "gelu_erf")         /* 0.5 x (1 + erf(x / sqrt 2)) */                    \
  X(GeluTanh, "gelu_tanh")       /* 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) */ \
  X(HardSwish, "hard_swish")     /* x * max(0, min(1, x / 6 + 0.5)) */                \
  X(Selu, "selu")                /* beta * (x < 0 ? alpha * (exp(x) - 1) : x) */      \
  X(None, "none")                /* x: no activation (the default of an epilogue) */  \
  X(Silu, "silu")                /* x * sigmoid(x) (swish) */                         \
  X(Softsign, "softsign")                                                             \
  X(Celu, "celu")                                                                     \
  X(Swish, "swish")                                                                   \
  X(Mish, "mish")                                                                     \
  X(ThresholdedRelu, "thresholded_relu")                                              \
  X(Shrink, "shrink")

#define KILN_UNARY_KINDS(X)             \
  X(Identity, "identity")               \
  X(Neg, "neg")                         \
  X(Abs, "abs")                         \
  X(Exp, "exp")                         \
  X(Log, "log")                         \
  X(Sqrt, "sqrt")                       \
  X(Reciprocal, "reciprocal")           \
  X(Erf, "erf")                         \
  X(Not, "not")     /* bool -> bool */  \
  X(IsNaN, "isnan") /* float -> bool */ \
  X(IsInf, "isinf") /* float -> bool */ \
  X(Ceil, "ceil")                       \
  X(Floor, "floor")                     \
  X(Round, "round") /* half to even */  \
  X(Sign, "sign")                       \
  X(Sin, "sin")                         \
  X(Cos, "cos")                         \
  X(Tan, "tan")                         \
  X(Asin, "asin")                       \
  X(Acos, "acos")                       \
  X(Atan, "atan")                       \
  X(Sinh, "sinh")                       \
  X(Cosh, "cosh")                       \
  X(Asinh, "asinh")                     \
  X(Acosh, "acosh")                     \
  X(Atanh, "atanh")                     \
  X(BitwiseNot, "bitwise_not")          \
  X(IsPosInf, "is_pos_inf")             \
  X(IsNegInf, "is_neg_inf")

#define KILN_ELEMENTWISE_KINDS(X)                            \
  X(Add, "add")                                              \
  X(Sub, "sub")                                              \
  X(Mul, "mul")                                              \
  X(Div, "div") /* integer division truncates toward zero */ \
  X(Pow, "pow")                                              \
  X(Max, "max")                                              \
  X(Min, "min")                                              \
  X(And, "and")     /* bool */                               \
  X(Or, "or")       /* bool */                               \
  X(Xor, "xor")     /* bool */                               \
  X(Equal, "equal") /* -> bool */                            \
  X(Less, "less")   /* -> bool */                            \
  X(LessOrEqual, "less_or_equal")                            \
  X(Greater, "greater")                                      \
  X(GreaterOrEqual, "greater_or_equal")                      \
  X(Mod, "mod")                                              \
  X(Fmod, "fmod")                                            \
  X(BitShiftLeft, "bit_shift_left")                          \
  X(BitShiftRight, "bit_shift_right")                        \
  X(BitwiseAnd, "bitwise_and")                               \
  X(BitwiseOr, "bitwise_or")                                 \
  X(BitwiseXor, "bitwise_xor")                               \
  X(PRelu, "prelu")

#define KILN_REDUCE_KINDS(X)  \
  X(Sum, "sum")               \
  X(Mean, "mean")             \
  X(Max, "max")               \
  X(Min, "min")               \
  X(Prod, "prod")             \
  X(SumSquare, "sum_square")  \
  X(L1, "l1")                 \
  X(L2, "l2")                 \
  X(LogSum, "log_sum")        \
  X(LogSumExp, "log_sum_exp") \
  X(ArgMax, "arg_max")        \
  X(ArgMin, "arg_min")

#define KILN_POOLING_KINDS(X) \
  X(Max, "max")               \
  X(Average, "average")

#define KILN_PADDING_MODES(X) \
  X(Explicit, "explicit")     \
  X(SameUpper, "same_upper")  \
  X(SameLower, "same_lower")  \
  X(Valid, "valid")

#define KILN_SHUFFLE_MODES(X)                                                                  \
  X(Reshape, "reshape")     /* param = int64 shape; 0 copies the input dim (unless allowZero), \
                               -1 is inferred */                                               \
  X(Squeeze, "squeeze")     /* param = int64 axes (absent: every size-1 dim) */                \
  X(Unsqueeze, "unsqueeze") /* param = int64 axes of the output */                             \
  X(Flatten, "flatten")     /* attr axis: [prod(d[:axis]), prod(d[axis:])] */                  \
  X(Transpose, "transpose") /* attr perm (empty: reverse the dims) */

#define KILN_LOSS_REDUCTIONS(X) \
  X(None, "none")               \
  X(Sum, "sum")                 \
  X(Mean, "mean")

#define KILN_WINDOW_KINDS(X) \
  X(Hann, "hann")            \
  X(Hamming, "hamming")      \
  X(Blackman, "blackman")

#define KILN_GATHER_MODES(X)                                   \
  X(Default, "default")   /* ONNX Gather along axis */         \
  X(Elements, "elements") /* ONNX GatherElements along axis */ \
  X(ND, "nd")             /* ONNX GatherND with batchDims */

/// Where an epilogue adds its residual input r (see ConvolutionAttrs).
#define KILN_RESIDUAL_MODES(X)                                     \
  X(None, "none")                          /* no residual input */ \
  X(BeforeActivation, "before_activation") /* y = act(p + r) */    \
  X(AfterActivation, "after_activation")   /* y = act(p) + r */

/// How an Attention layer's inputs and output are laid out (B batch, H heads, S sequence,
/// D head size). "merged" keeps the heads interleaved in the last dim, as the projections
/// produce them, so the head reshapes and transposes are part of the layer.
#define KILN_ATTENTION_LAYOUTS(X)                                                             \
  X(HeadsFirst, "heads_first") /* q [B,H,Sq,D], k [B,H,Sk,D], v [B,H,Sk,Dv] -> [B,H,Sq,Dv] */ \
  X(Merged, "merged")          /* q [B,Sq,H*D], k [B,Sk,H*D], v [B,Sk,H*Dv] -> [B,Sq,H*Dv] */ \
  X(Packed, "packed")          /* qkv [B,S,3*H*D] = q | k | v along the last dim -> [B,S,H*D] */
#define KILN_PAD_MODES(X)                                               \
  X(Constant, "constant") /* the value input (0 when absent) */         \
  X(Reflect, "reflect")   /* mirrored, the edge element not repeated */ \
  X(Edge, "edge")         /* the edge element repeated */               \
  X(Wrap, "wrap")         /* the opposite side, as if tiled */

/// Resize (ONNX Resize and Upsample): how output samples are interpolated, where an output
/// coordinate falls in the input, how nearest rounds, and how `sizes` keeps the aspect ratio.
#define KILN_RESIZE_MODES(X) \
  X(Nearest, "nearest")      \
  X(Linear, "linear")        \
  X(Cubic, "cubic")

#define KILN_RESIZE_COORDINATES(X)                                                        \
  X(HalfPixel, "half_pixel")                    /* (o + 0.5) / s - 0.5 */                 \
  X(HalfPixelSymmetric, "half_pixel_symmetric") /* half_pixel about the centre */         \
  X(PytorchHalfPixel, "pytorch_half_pixel")     /* half_pixel; -0.5 for an output of 1 */ \
  X(AlignCorners, "align_corners")              /* o (in - 1) / (out - 1) */              \
  X(Asymmetric, "asymmetric")                   /* o / s */                               \
  X(TfHalfPixelForNn, "tf_half_pixel_for_nn")   /* (o + 0.5) / s */                       \
  X(TfCropAndResize, "tf_crop_and_resize")      /* inside roi; outside: extrapolation */

#define KILN_RESIZE_NEAREST_MODES(X)        \
  X(RoundPreferFloor, "round_prefer_floor") \
  X(RoundPreferCeil, "round_prefer_ceil")   \
  X(Floor, "floor")                         \
  X(Ceil, "ceil")

#define KILN_ASPECT_RATIO_POLICIES(X) \
  X(Stretch, "stretch")               \
  X(NotLarger, "not_larger")          \
  X(NotSmaller, "not_smaller")

/// GridSample: the value of a sample point outside the input.
#define KILN_GRID_PADDING_MODES(X)                                 \
  X(Zeros, "zeros")           /* 0 */                              \
  X(Border, "border")         /* the point clamped to the input */ \
  X(Reflection, "reflection") /* the point mirrored at the borders */

#define KILN_DECLARE_ENUM_VALUE(name, str) k##name,
enum class ActivationKind : int32_t { KILN_ACTIVATION_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class UnaryKind : int32_t { KILN_UNARY_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class ElementwiseKind : int32_t { KILN_ELEMENTWISE_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class ReduceKind : int32_t { KILN_REDUCE_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class PoolingKind : int32_t { KILN_POOLING_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class PaddingMode : int32_t { KILN_PADDING_MODES(KILN_DECLARE_ENUM_VALUE) };
enum class ShuffleMode : int32_t { KILN_SHUFFLE_MODES(KILN_DECLARE_ENUM_VALUE) };
enum class GatherMode : int32_t { KILN_GATHER_MODES(KILN_DECLARE_ENUM_VALUE) };
enum class ResidualMode : int32_t { KILN_RESIDUAL_MODES(KILN_DECLARE_ENUM_VALUE) };
enum class AttentionLayout : int32_t { KILN_ATTENTION_LAYOUTS(KILN_DECLARE_ENUM_VALUE) };
enum class PadMode : int32_t { KILN_PAD_MODES(KILN_DECLARE_ENUM_VALUE) };
enum class LossReduction : int32_t { KILN_LOSS_REDUCTIONS(KILN_DECLARE_ENUM_VALUE) };
enum class WindowKind : int32_t { KILN_WINDOW_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class ResizeMode : int32_t { KILN_RESIZE_MODES(KILN_DECLARE_ENUM_VALUE) };
enum class ResizeCoordinates : int32_t { KILN_RESIZE_COORDINATES(KILN_DECLARE_ENUM_VALUE) };
enum class ResizeNearestMode : int32_t { KILN_RESIZE_NEAREST_MODES(KILN_DECLARE_ENUM_VALUE) };
enum class AspectRatioPolicy : int32_t { KILN_ASPECT_RATIO_POLICIES(KILN_DECLARE_ENUM_VALUE) };
enum class GridPaddingMode : int32_t { KILN_GRID_PADDING_MODES(KILN_DECLARE_ENUM_VALUE) };
#undef KILN_DECLARE_ENUM_VALUE

/// Names of enum values ("relu"), and the number of values, for every attribute enum.
const char* enumName(ActivationKind v);
const char* enumName(UnaryKind v);
const char* enumName(ElementwiseKind v);
const char* enumName(ReduceKind v);
const char* enumName(PoolingKind v);
const char* enumName(PaddingMode v);
const char* enumName(ShuffleMode v);
const char* enumName(GatherMode v);
const char* enumName(ResidualMode v);
const char* enumName(AttentionLayout v);
const char* enumName(PadMode v);
const char* enumName(LossReduction v);
const char* enumName(WindowKind v);
const char* enumName(ResizeMode v);
const char* enumName(ResizeCoordinates v);
const char* enumName(ResizeNearestMode v);
const char* enumName(AspectRatioPolicy v);
const char* enumName(GridPaddingMode v);
const char* enumName(DataType v);
template <class E>
int32_t enumCount();

// ---- attribute structs ----------------------------------------------------------------------
// `visit(v)` calls v(name, field) for every field, in a fixed order.

/// Declares `visit(v)` (mutable and const) from one list of `v("name", s.field);` calls.
#define KILN_VISIT_FIELDS(...)          \
  template <class V>                    \
  void visit(V& v) {                    \
    visitFields(*this, v);              \
  }                                     \
  template <class V>                    \
  void visit(V& v) const {              \
    visitFields(*this, v);              \
  }                                     \
  template <class S, class V>           \
  static void visitFields(S& s, V& v) { \
    (void)s;                            \
    (void)v;                            \
    __VA_ARGS__                         \
  }

struct ConstantAttrs {
  Weights value;
  KILN_VISIT_FIELDS(v("value", s.value);)
};

// ---- epilogues ------------------------------------------------------------------------------
// Convolution and MatrixMultiply carry an optional epilogue, so that a fused layer is an
// ordinary layer with attributes rather than a new kind per combination. With p the layer's
// own result (conv(x, w) + b, or alpha * op(A) @ op(B) + beta * C) and r the residual input
// (input 3, broadcast to the output), the epilogue computes, in this order:
//   residual = none:              y = act(p)
//   residual = before_activation: y = act(p + r)      (ResNet: relu(conv + bias + shortcut))
//   residual = after_activation:  y = act(p) + r      (transformers: x + gelu(...) has no act)
// act is `activation` with `activation_alpha` / `activation_beta` (ActivationAttrs meaning);
// kNone is the identity. Each step rounds to the output type, as the unfused layers would.
// The epilogue fields are declared last in the field list, so older plans read them as
// defaults.
#define KILN_EPILOGUE_FIELDS                \
  v("activation", s.activation);            \
  v("activation_alpha", s.activationAlpha); \
  v("activation_beta", s.activationBeta);   \
  v("residual", s.residual);

struct ConvolutionAttrs {
  std::vector<int64_t> kernelShape;  ///< spatial kernel dims (from the weights when empty)
  std::vector<int64_t> strides;      ///< default 1 per spatial dim
  std::vector<int64_t> dilations;    ///< default 1 per spatial dim
  std::vector<int64_t> padsBegin;    ///< default 0 per spatial dim (explicit padding)
  std::vector<int64_t> padsEnd;
  PaddingMode padding = PaddingMode::kExplicit;
  int64_t group = 1;
  /// Transposed convolution (ONNX ConvTranspose): w is [C, M/group, kernel...], each input
  /// pixel i scatters into the outputs i * stride + k * dilation - padBegin. The output size
  /// is stride * (in - 1) + outputPadding + extent - padBegin - padEnd; a non-empty
  /// outputShape (spatial dims) fixes it instead and the pads follow from it (auto padding:
  /// outputShape defaults to in * stride). Pads resolved that way may be negative.
  bool transposed = false;
  std::vector<int64_t> outputPadding;  ///< transposed only; default 0 per spatial dim
  std::vector<int64_t> outputShape;    ///< transposed only; spatial output dims or empty
  // Epilogue (see above); the residual is input 3 (input 2, the bias, may then be absent).
  ActivationKind activation = ActivationKind::kNone;
  float activationAlpha = 0.0f;
  float activationBeta = 0.0f;
  ResidualMode residual = ResidualMode::kNone;
  KILN_VISIT_FIELDS(v("kernel_shape", s.kernelShape); v("strides", s.strides);
                    v("dilations", s.dilations); v("pads_begin", s.padsBegin);
                    v("pads_end", s.padsEnd); v("padding", s.padding); v("group", s.group);
                    v("transposed", s.transposed); v("output_padding", s.outputPadding);
                    v("output_shape", s.outputShape); KILN_EPILOGUE_FIELDS)
};

struct MatrixMultiplyAttrs {
  bool transA = false;  ///< transpose the last two dims of A
  bool transB = false;
  float alpha = 1.0f;
  float beta = 1.0f;  ///< scale of the optional third input C (broadcast to the output)
  // Epilogue (see above); the residual is input 3 (input 2, C, may then be absent).
  ActivationKind activation = ActivationKind::kNone;
  float activationAlpha = 0.0f;
  float activationBeta = 0.0f;
  ResidualMode residual = ResidualMode::kNone;
  KILN_VISIT_FIELDS(v("trans_a", s.transA); v("trans_b", s.transB); v("alpha", s.alpha);
                    v("beta", s.beta); KILN_EPILOGUE_FIELDS)
};

struct PoolingAttrs {
  PoolingKind kind = PoolingKind::kMax;
  bool global = false;  ///< window covers all spatial dims; the fields below are ignored
  std::vector<int64_t> kernelShape;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> padsBegin;
  std::vector<int64_t> padsEnd;
  PaddingMode padding = PaddingMode::kExplicit;
  bool ceilMode = false;
  bool countIncludePad = false;  ///< average pooling: divide by the full window size
  KILN_VISIT_FIELDS(v("kind", s.kind); v("global", s.global); v("kernel_shape", s.kernelShape);
                    v("strides", s.strides); v("dilations", s.dilations);
                    v("pads_begin", s.padsBegin); v("pads_end", s.padsEnd); v("padding", s.padding);
                    v("ceil_mode", s.ceilMode); v("count_include_pad", s.countIncludePad);)
};

struct ActivationAttrs {
  ActivationKind kind = ActivationKind::kRelu;
  float alpha = 0.0f;
  float beta = 0.0f;
  KILN_VISIT_FIELDS(v("kind", s.kind); v("alpha", s.alpha); v("beta", s.beta);)
};

struct UnaryAttrs {
  UnaryKind kind = UnaryKind::kIdentity;
  KILN_VISIT_FIELDS(v("kind", s.kind);)
};

struct ElementwiseAttrs {
  ElementwiseKind kind = ElementwiseKind::kAdd;
  KILN_VISIT_FIELDS(v("kind", s.kind);)
};

struct ReduceAttrs {
  ReduceKind kind = ReduceKind::kSum;
  bool keepDims = true;
  bool noopWithEmptyAxes = false;  ///< no axes input: identity instead of reducing everything
  bool selectLastIndex = false;    ///< kArgMax / kArgMin: the last of equal extremes
  KILN_VISIT_FIELDS(v("kind", s.kind); v("keep_dims", s.keepDims);
                    v("noop_with_empty_axes", s.noopWithEmptyAxes);
                    v("select_last_index", s.selectLastIndex);)
};

struct SoftmaxAttrs {
  int64_t axis = -1;
  bool log = false;   ///< log-softmax
  bool hard = false;  ///< hardmax: 1 at the first maximum along the axis, 0 elsewhere
  KILN_VISIT_FIELDS(v("axis", s.axis); v("log", s.log); v("hard", s.hard);)
};

struct NormalizationAttrs {
  int64_t axis = -1;  ///< statistics over dims [axis, rank)
  float epsilon = 1e-5f;
  /// RMS normalization: y = x / sqrt(mean(x^2) + epsilon) * scale + bias (no mean removed).
  bool rms = false;
  KILN_VISIT_FIELDS(v("axis", s.axis); v("epsilon", s.epsilon); v("rms", s.rms);)
};

struct ShuffleAttrs {
  ShuffleMode mode = ShuffleMode::kReshape;
  std::vector<int64_t> perm;  ///< kTranspose
  int64_t axis = 1;           ///< kFlatten
  bool allowZero = false;     ///< kReshape: a 0 in the shape means size 0, not "copy"
  KILN_VISIT_FIELDS(v("mode", s.mode); v("perm", s.perm); v("axis", s.axis);
                    v("allow_zero", s.allowZero);)
};

struct ConcatenationAttrs {
  int64_t axis = 0;
  KILN_VISIT_FIELDS(v("axis", s.axis);)
};

struct SliceAttrs {
  KILN_VISIT_FIELDS()
};

struct SplitAttrs {
  int64_t axis = 0;
  int64_t numOutputs = 0;  ///< equal split (last part smaller) when the split input is absent
  KILN_VISIT_FIELDS(v("axis", s.axis); v("num_outputs", s.numOutputs);)
};

struct GatherAttrs {
  GatherMode mode = GatherMode::kDefault;
  int64_t axis = 0;       ///< kDefault, kElements
  int64_t batchDims = 0;  ///< kND
  KILN_VISIT_FIELDS(v("mode", s.mode); v("axis", s.axis); v("batch_dims", s.batchDims);)
};

struct CastAttrs {
  DataType to = DataType::kFloat32;
  bool saturate = true;   ///< float8 targets: out-of-range values clamp (else NaN / inf)
  int64_t roundMode = 0;  ///< float8 e8m0 target: 0 up (away from zero), 1 down, 2 nearest
  KILN_VISIT_FIELDS(v("to", s.to); v("saturate", s.saturate); v("round_mode", s.roundMode);)
};

struct SelectAttrs {
  KILN_VISIT_FIELDS()
};

struct FillAttrs {
  KILN_VISIT_FIELDS()
};

struct ExpandAttrs {
  KILN_VISIT_FIELDS()
};

struct ShapeOfAttrs {
  int64_t start = 0;
  int64_t end = INT64_MAX;  ///< clamped to the rank; negative counts from the end
  KILN_VISIT_FIELDS(v("start", s.start); v("end", s.end);)
};

struct CumulativeAttrs {
  bool exclusive = false;
  bool reverse = false;
  bool product = false;  ///< cumulative product instead of sum
  KILN_VISIT_FIELDS(v("exclusive", s.exclusive); v("reverse", s.reverse); v("product", s.product);)
};

/// An integer tensor whose values are expressions of the input dims (a folded shape
/// computation such as Shape -> Gather -> Concat), evaluated when a context's input shapes are
/// set. Like Constant, it is not executed.
struct SymbolicConstantAttrs {
  DataType dtype = DataType::kInt64;
  Dims dims;                ///< static dims of the tensor
  std::vector<Dim> values;  ///< row-major, volume(dims) values
  KILN_VISIT_FIELDS(v("dtype", s.dtype); v("dims", s.dims); v("values", s.values);)
};

/// A fused chain of elementwise operations, evaluated per output element. `expression` is a
/// term over the inputs x0, x1, ... (each broadcast to the output) and float32 literals:
///   term := xK | literal | op "(" term ("," term)* ")"
/// where op is a Unary kind name ("erf"), an Elementwise kind name ("add"), an Activation kind
/// name with its input then alpha and beta ("leaky_relu(x0, 0.01, 0)"), "where(c, a, b)", or
/// "cast_<dtype>(t)" ("cast_f32"). Every sub-term has the dtype the unfused layer would give
/// it and is rounded to it, so the result equals the chain's bit for bit.
struct PointwiseAttrs {
  std::string expression;
  KILN_VISIT_FIELDS(v("expression", s.expression);)
};

/// Scaled dot-product attention, per batch and head:
///   y = softmax(scale * q @ k^T + mask [+ causal mask]) @ v
/// Inputs: q, k?, v?, mask? (k and v absent for the packed layout). The mask is additive,
/// float, and broadcasts to [B, H, Sq, Sk]. With `causal`, key j is masked (-inf) for query i
/// when j > i + Sk - Sq. With `zero_nan_probabilities`, probabilities that are NaN (a row whose
/// keys are all masked) become 0, as the exporters' where(isnan(p), 0, p) does.
struct AttentionAttrs {
  AttentionLayout layout = AttentionLayout::kHeadsFirst;
  int64_t numHeads = 1;  ///< H for the merged and packed layouts (heads_first reads it from q)
  float scale = 1.0f;
  bool causal = false;
  bool zeroNanProbabilities = false;
  KILN_VISIT_FIELDS(v("layout", s.layout); v("num_heads", s.numHeads); v("scale", s.scale);
                    v("causal", s.causal); v("zero_nan_probabilities", s.zeroNanProbabilities);)
};

// ---- tensor and data-movement layers (ops-tensor) ----

/// pads input: [begin per axis..., end per axis...] over `axes` (every dim when absent); a
/// negative pad crops.
struct PadAttrs {
  PadMode mode = PadMode::kConstant;
  KILN_VISIT_FIELDS(v("mode", s.mode);)
};

/// Keeps the elements on and above (upper) or on and below (lower) the k-th diagonal of each
/// matrix of the last two dims (k from the optional scalar input, default 0).
struct TriluAttrs {
  bool upper = true;
  KILN_VISIT_FIELDS(v("upper", s.upper);)
};

/// Negative log-likelihood: x[N,C,d...] (log-probabilities), target[N,d...] (integer class
/// indices), weight[C]? -> loss (per element when reduction is none, else a scalar). Elements
/// whose target equals ignoreIndex (when hasIgnoreIndex) contribute 0 and weight 0; kMean is
/// sum(weight[t] * loss) / sum(weight[t]) over the counted elements.
struct NegativeLogLikelihoodAttrs {
  LossReduction reduction = LossReduction::kMean;
  bool hasIgnoreIndex = false;
  int64_t ignoreIndex = 0;
  KILN_VISIT_FIELDS(v("reduction", s.reduction); v("has_ignore_index", s.hasIgnoreIndex);
                    v("ignore_index", s.ignoreIndex);)
};

/// Determinant of the trailing square matrices: x[..., M, M] -> y[...].
struct DeterminantAttrs {
  KILN_VISIT_FIELDS()
};

/// Einsum as label lists (the importer parses the equation and expands ellipses): input k's
/// labels, one per dim, each input's list ended by -1; and the output's labels. Labels not in
/// the output are summed; a label repeated within an input reads its diagonal.
struct EinsumAttrs {
  std::vector<int64_t> inputLabels;
  std::vector<int64_t> outputLabels;
  KILN_VISIT_FIELDS(v("input_labels", s.inputLabels); v("output_labels", s.outputLabels);)
};

/// A window function of `size` (param input) points: periodic (divides by N) or symmetric
/// (divides by N - 1); Hann 0.5 - 0.5 cos t, Hamming 25/46 - 21/46 cos t, Blackman
/// 0.42 - 0.5 cos t + 0.08 cos 2t, with t = 2 pi n / divisor.
struct WindowAttrs {
  WindowKind kind = WindowKind::kHann;
  bool periodic = true;
  DataType dtype = DataType::kFloat32;
  KILN_VISIT_FIELDS(v("kind", s.kind); v("periodic", s.periodic); v("dtype", s.dtype);)
};

/// Discrete Fourier transform: x[..., 1 or 2], axis[param], dft_length[param]? -> y[..., 2]
/// (inverse onesided: the real signal [..., 1] from a half spectrum).
struct DftAttrs {
  bool inverse = false;
  bool onesided = false;  ///< forward: keep the first N / 2 + 1 frequencies
  KILN_VISIT_FIELDS(v("inverse", s.inverse); v("onesided", s.onesided);)
};

/// Short-time Fourier transform: signal[B, L, 1 or 2], frame_step[param], window[W]?,
/// frame_length[param]? -> y[B, frames, bins, 2].
struct StftAttrs {
  bool onesided = true;
  KILN_VISIT_FIELDS(v("onesided", s.onesided);)
};

/// Mel filter bank: num_mel_bins[param], dft_length[param], sample_rate, lower_edge_hertz,
/// upper_edge_hertz (scalars) -> [dft_length / 2 + 1, num_mel_bins] triangular filters.
struct MelWeightMatrixAttrs {
  DataType dtype = DataType::kFloat32;
  KILN_VISIT_FIELDS(v("dtype", s.dtype);)
};

/// Resize: x, roi?, scales?, sizes? -> y. Exactly one of scales (float, one per resized axis)
/// and sizes (int64, one per resized axis) is present; roi (2 values per resized axis, starts
/// then ends, as fractions of the input) is read only by tf_crop_and_resize. `axes` lists the
/// resized axes (empty: all). Each output sample is a weighted sum of input samples, axis by
/// axis: one (nearest), two (linear) or four (cubic, coefficient cubicCoeffA) taps per axis,
/// clamped to the edge, or widened by 1/scale when antialias downsamples; excludeOutside drops
/// (and renormalizes without) taps outside the input. A tf_crop_and_resize sample outside the
/// input is extrapolationValue.
struct ResizeAttrs {
  ResizeMode mode = ResizeMode::kNearest;
  ResizeCoordinates coordinates = ResizeCoordinates::kHalfPixel;
  ResizeNearestMode nearestMode = ResizeNearestMode::kRoundPreferFloor;
  float cubicCoeffA = -0.75f;
  bool excludeOutside = false;
  float extrapolationValue = 0.0f;
  bool antialias = false;
  std::vector<int64_t> axes;
  AspectRatioPolicy aspectRatioPolicy = AspectRatioPolicy::kStretch;
  KILN_VISIT_FIELDS(v("mode", s.mode); v("coordinates", s.coordinates);
                    v("nearest_mode", s.nearestMode); v("cubic_coeff_a", s.cubicCoeffA);
                    v("exclude_outside", s.excludeOutside);
                    v("extrapolation_value", s.extrapolationValue); v("antialias", s.antialias);
                    v("axes", s.axes); v("aspect_ratio_policy", s.aspectRatioPolicy);)
};

/// GridSample: x[N,C,D1..Dr], grid[N,O1..Or,r] -> y[N,C,O1..Or]. grid holds normalized sample
/// points in [-1, 1], the last input dim first (x, y[, z]); -1 and 1 are the centres of the corner
/// samples (alignCorners) or their outer edges. Interpolation is nearest (half to even), linear
/// or cubic (A = -0.75) over the r spatial dims.
struct GridSampleAttrs {
  ResizeMode mode = ResizeMode::kLinear;
  GridPaddingMode padding = GridPaddingMode::kZeros;
  bool alignCorners = false;
  KILN_VISIT_FIELDS(v("mode", s.mode); v("padding", s.padding); v("align_corners", s.alignCorners);)
  // (ONNX fixes the cubic coefficient of GridSample at -0.75.)
};

/// AffineGrid: theta[N,r,r+1], size[param] (N,C,D1..Dr) -> grid[N,D1..Dr,r] of the normalized
/// coordinates (x, y[, z]) of every output sample mapped by theta (alignCorners as GridSample).
struct AffineGridAttrs {
  bool alignCorners = false;
  KILN_VISIT_FIELDS(v("align_corners", s.alignCorners);)
};

/// Layer kinds, in layers.def order.
enum class LayerKind : int32_t {
#define KILN_LAYER(kind, attrs, summary) k##kind,
#include "kiln/layers.def"
#undef KILN_LAYER
};

/// Number of layer kinds.
constexpr int32_t kLayerKindCount = 0
#define KILN_LAYER(kind, attrs, summary) +1
#include "kiln/layers.def"
#undef KILN_LAYER
    ;

/// The attributes of any layer; the alternative index equals the LayerKind value.
using LayerAttrs = std::variant<
#define KILN_LAYER(kind, attrs, summary) attrs,
#include "kiln/layers.def"
#undef KILN_LAYER
    std::monostate>;

/// "Convolution"
const char* layerKindName(LayerKind kind);
/// Default-constructed attributes for a kind.
LayerAttrs defaultAttrs(LayerKind kind);
/// The kind whose attribute struct `attrs` holds.
inline LayerKind attrsKind(const LayerAttrs& attrs) {
  return static_cast<LayerKind>(attrs.index());
}

}  // namespace kiln
