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
  X(Selu, "selu")                /* beta * (x < 0 ? alpha * (exp(x) - 1) : x) */

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
  X(Cos, "cos")

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
  X(GreaterOrEqual, "greater_or_equal")

#define KILN_REDUCE_KINDS(X) \
  X(Sum, "sum")              \
  X(Mean, "mean")            \
  X(Max, "max")              \
  X(Min, "min")              \
  X(Prod, "prod")            \
  X(SumSquare, "sum_square") \
  X(L1, "l1")                \
  X(L2, "l2")                \
  X(LogSum, "log_sum")       \
  X(LogSumExp, "log_sum_exp")

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

#define KILN_GATHER_MODES(X)                                   \
  X(Default, "default")   /* ONNX Gather along axis */         \
  X(Elements, "elements") /* ONNX GatherElements along axis */ \
  X(ND, "nd")             /* ONNX GatherND with batchDims */

#define KILN_DECLARE_ENUM_VALUE(name, str) k##name,
enum class ActivationKind : int32_t { KILN_ACTIVATION_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class UnaryKind : int32_t { KILN_UNARY_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class ElementwiseKind : int32_t { KILN_ELEMENTWISE_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class ReduceKind : int32_t { KILN_REDUCE_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class PoolingKind : int32_t { KILN_POOLING_KINDS(KILN_DECLARE_ENUM_VALUE) };
enum class PaddingMode : int32_t { KILN_PADDING_MODES(KILN_DECLARE_ENUM_VALUE) };
enum class ShuffleMode : int32_t { KILN_SHUFFLE_MODES(KILN_DECLARE_ENUM_VALUE) };
enum class GatherMode : int32_t { KILN_GATHER_MODES(KILN_DECLARE_ENUM_VALUE) };
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

struct ConvolutionAttrs {
  std::vector<int64_t> kernelShape;  ///< spatial kernel dims (from the weights when empty)
  std::vector<int64_t> strides;      ///< default 1 per spatial dim
  std::vector<int64_t> dilations;    ///< default 1 per spatial dim
  std::vector<int64_t> padsBegin;    ///< default 0 per spatial dim (explicit padding)
  std::vector<int64_t> padsEnd;
  PaddingMode padding = PaddingMode::kExplicit;
  int64_t group = 1;
  KILN_VISIT_FIELDS(v("kernel_shape", s.kernelShape); v("strides", s.strides);
                    v("dilations", s.dilations); v("pads_begin", s.padsBegin);
                    v("pads_end", s.padsEnd); v("padding", s.padding); v("group", s.group);)
};

struct MatrixMultiplyAttrs {
  bool transA = false;  ///< transpose the last two dims of A
  bool transB = false;
  float alpha = 1.0f;
  float beta = 1.0f;  ///< scale of the optional third input C (broadcast to the output)
  KILN_VISIT_FIELDS(v("trans_a", s.transA); v("trans_b", s.transB); v("alpha", s.alpha);
                    v("beta", s.beta);)
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
  KILN_VISIT_FIELDS(v("kind", s.kind); v("keep_dims", s.keepDims);
                    v("noop_with_empty_axes", s.noopWithEmptyAxes);)
};

struct SoftmaxAttrs {
  int64_t axis = -1;
  bool log = false;  ///< log-softmax
  KILN_VISIT_FIELDS(v("axis", s.axis); v("log", s.log);)
};

struct NormalizationAttrs {
  int64_t axis = -1;  ///< statistics over dims [axis, rank)
  float epsilon = 1e-5f;
  KILN_VISIT_FIELDS(v("axis", s.axis); v("epsilon", s.epsilon);)
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
  KILN_VISIT_FIELDS(v("exclusive", s.exclusive); v("reverse", s.reverse);)
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
