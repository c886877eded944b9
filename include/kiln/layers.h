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

struct ConstantAttrs {
  Weights value;
  template <class V>
  void visit(V& v) {
    v("value", value);
  }
  template <class V>
  void visit(V& v) const {
    v("value", value);
  }
};

struct ConvolutionAttrs {
  std::vector<int64_t> kernelShape;  ///< spatial kernel dims (from the weights when empty)
  std::vector<int64_t> strides;      ///< default 1 per spatial dim
  std::vector<int64_t> dilations;    ///< default 1 per spatial dim
  std::vector<int64_t> padsBegin;    ///< default 0 per spatial dim (explicit padding)
  std::vector<int64_t> padsEnd;
  PaddingMode padding = PaddingMode::kExplicit;
  int64_t group = 1;
#define KILN_CONV_FIELDS(v)       \
  v("kernel_shape", kernelShape); \
  v("strides", strides);          \
  v("dilations", dilations);      \
  v("pads_begin", padsBegin);     \
  v("pads_end", padsEnd);         \
  v("padding", padding);          \
  v("group", group);
  template <class V>
  void visit(V& v) {
    KILN_CONV_FIELDS(v)
  }
  template <class V>
  void visit(V& v) const {
    KILN_CONV_FIELDS(v)
  }
#undef KILN_CONV_FIELDS
};

struct MatrixMultiplyAttrs {
  bool transA = false;  ///< transpose the last two dims of A
  bool transB = false;
  float alpha = 1.0f;
  float beta = 1.0f;  ///< scale of the optional third input C (broadcast to the output)
#define KILN_MM_FIELDS(v) \
  v("trans_a", transA);   \
  v("trans_b", transB);   \
  v("alpha", alpha);      \
  v("beta", beta);
  template <class V>
  void visit(V& v) {
    KILN_MM_FIELDS(v)
  }
  template <class V>
  void visit(V& v) const {
    KILN_MM_FIELDS(v)
  }
#undef KILN_MM_FIELDS
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
#define KILN_POOL_FIELDS(v)       \
  v("kind", kind);                \
  v("global", global);            \
  v("kernel_shape", kernelShape); \
  v("strides", strides);          \
  v("dilations", dilations);      \
  v("pads_begin", padsBegin);     \
  v("pads_end", padsEnd);         \
  v("padding", padding);          \
  v("ceil_mode", ceilMode);       \
  v("count_include_pad", countIncludePad);
  template <class V>
  void visit(V& v) {
    KILN_POOL_FIELDS(v)
  }
  template <class V>
  void visit(V& v) const {
    KILN_POOL_FIELDS(v)
  }
#undef KILN_POOL_FIELDS
};

struct ActivationAttrs {
  ActivationKind kind = ActivationKind::kRelu;
  float alpha = 0.0f;
  float beta = 0.0f;
  template <class V>
  void visit(V& v) {
    v("kind", kind);
    v("alpha", alpha);
    v("beta", beta);
  }
  template <class V>
  void visit(V& v) const {
    v("kind", kind);
    v("alpha", alpha);
    v("beta", beta);
  }
};

struct UnaryAttrs {
  UnaryKind kind = UnaryKind::kIdentity;
  template <class V>
  void visit(V& v) {
    v("kind", kind);
  }
  template <class V>
  void visit(V& v) const {
    v("kind", kind);
  }
};

struct ElementwiseAttrs {
  ElementwiseKind kind = ElementwiseKind::kAdd;
  template <class V>
  void visit(V& v) {
    v("kind", kind);
  }
  template <class V>
  void visit(V& v) const {
    v("kind", kind);
  }
};

struct ReduceAttrs {
  ReduceKind kind = ReduceKind::kSum;
  bool keepDims = true;
  bool noopWithEmptyAxes = false;  ///< no axes input: identity instead of reducing everything
#define KILN_RED_FIELDS(v)  \
  v("kind", kind);          \
  v("keep_dims", keepDims); \
  v("noop_with_empty_axes", noopWithEmptyAxes);
  template <class V>
  void visit(V& v) {
    KILN_RED_FIELDS(v)
  }
  template <class V>
  void visit(V& v) const {
    KILN_RED_FIELDS(v)
  }
#undef KILN_RED_FIELDS
};

struct SoftmaxAttrs {
  int64_t axis = -1;
  bool log = false;  ///< log-softmax
  template <class V>
  void visit(V& v) {
    v("axis", axis);
    v("log", log);
  }
  template <class V>
  void visit(V& v) const {
    v("axis", axis);
    v("log", log);
  }
};

struct NormalizationAttrs {
  int64_t axis = -1;  ///< statistics over dims [axis, rank)
  float epsilon = 1e-5f;
  template <class V>
  void visit(V& v) {
    v("axis", axis);
    v("epsilon", epsilon);
  }
  template <class V>
  void visit(V& v) const {
    v("axis", axis);
    v("epsilon", epsilon);
  }
};

struct ShuffleAttrs {
  ShuffleMode mode = ShuffleMode::kReshape;
  std::vector<int64_t> perm;  ///< kTranspose
  int64_t axis = 1;           ///< kFlatten
  bool allowZero = false;     ///< kReshape: a 0 in the shape means size 0, not "copy"
#define KILN_SH_FIELDS(v) \
  v("mode", mode);        \
  v("perm", perm);        \
  v("axis", axis);        \
  v("allow_zero", allowZero);
  template <class V>
  void visit(V& v) {
    KILN_SH_FIELDS(v)
  }
  template <class V>
  void visit(V& v) const {
    KILN_SH_FIELDS(v)
  }
#undef KILN_SH_FIELDS
};

struct ConcatenationAttrs {
  int64_t axis = 0;
  template <class V>
  void visit(V& v) {
    v("axis", axis);
  }
  template <class V>
  void visit(V& v) const {
    v("axis", axis);
  }
};

struct SliceAttrs {
  template <class V>
  void visit(V&) {}
  template <class V>
  void visit(V&) const {}
};

struct SplitAttrs {
  int64_t axis = 0;
  int64_t numOutputs = 0;  ///< equal split (last part smaller) when the split input is absent
  template <class V>
  void visit(V& v) {
    v("axis", axis);
    v("num_outputs", numOutputs);
  }
  template <class V>
  void visit(V& v) const {
    v("axis", axis);
    v("num_outputs", numOutputs);
  }
};

struct GatherAttrs {
  GatherMode mode = GatherMode::kDefault;
  int64_t axis = 0;       ///< kDefault, kElements
  int64_t batchDims = 0;  ///< kND
  template <class V>
  void visit(V& v) {
    v("mode", mode);
    v("axis", axis);
    v("batch_dims", batchDims);
  }
  template <class V>
  void visit(V& v) const {
    v("mode", mode);
    v("axis", axis);
    v("batch_dims", batchDims);
  }
};

struct CastAttrs {
  DataType to = DataType::kFloat32;
  template <class V>
  void visit(V& v) {
    v("to", to);
  }
  template <class V>
  void visit(V& v) const {
    v("to", to);
  }
};

struct SelectAttrs {
  template <class V>
  void visit(V&) {}
  template <class V>
  void visit(V&) const {}
};

struct FillAttrs {
  template <class V>
  void visit(V&) {}
  template <class V>
  void visit(V&) const {}
};

struct ExpandAttrs {
  template <class V>
  void visit(V&) {}
  template <class V>
  void visit(V&) const {}
};

struct ShapeOfAttrs {
  int64_t start = 0;
  int64_t end = INT64_MAX;  ///< clamped to the rank; negative counts from the end
  template <class V>
  void visit(V& v) {
    v("start", start);
    v("end", end);
  }
  template <class V>
  void visit(V& v) const {
    v("start", start);
    v("end", end);
  }
};

struct CumulativeAttrs {
  bool exclusive = false;
  bool reverse = false;
  template <class V>
  void visit(V& v) {
    v("exclusive", exclusive);
    v("reverse", reverse);
  }
  template <class V>
  void visit(V& v) const {
    v("exclusive", exclusive);
    v("reverse", reverse);
  }
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
