// kiln — reference Pointwise: evaluates a fused elementwise expression (ir/pointwise_expr.h)
// per output element. Every node is computed by the same scalar function as its unfused layer
// (scalar_ops.h) and rounded to its dtype, so the result equals the unfused chain bit for bit.
// Node values are held in doubles, which represent every f32, f64 and bool value exactly.
#include <limits>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"
#include "backends/reference/scalar_ops.h"
#include "ir/pointwise_expr.h"

namespace kiln {
namespace {

using pointwise::Node;

double load(DataType t, const void* p, int64_t i) {
  switch (t) {
    case DataType::kFloat32:
      return static_cast<const float*>(p)[i];
    case DataType::kFloat64:
      return static_cast<const double*>(p)[i];
    default:
      return static_cast<const bool*>(p)[i] ? 1.0 : 0.0;
  }
}

void store(DataType t, void* p, int64_t i, double v) {
  switch (t) {
    case DataType::kFloat32:
      static_cast<float*>(p)[i] = static_cast<float>(v);
      break;
    case DataType::kFloat64:
      static_cast<double*>(p)[i] = v;
      break;
    default:
      static_cast<bool*>(p)[i] = v != 0;
  }
}

/// op(a, b) for one binary node of dtype-of-operands `t`, as ElementwiseKernel computes it.
template <class T>
double binary(ElementwiseKind k, T a, T b) {
  switch (k) {
    case ElementwiseKind::kAdd:
      return ref::wrapAdd(a, b);
    case ElementwiseKind::kSub:
      return ref::wrapSub(a, b);
    case ElementwiseKind::kMul:
      return ref::wrapMul(a, b);
    case ElementwiseKind::kDiv:
      return ref::divide(a, b);
    case ElementwiseKind::kPow:
      return ref::power<T, T>(a, b);
    case ElementwiseKind::kMax:
      return ref::maximum(a, b);
    case ElementwiseKind::kMin:
      return ref::minimum(a, b);
    case ElementwiseKind::kAnd:
      return (a != 0) && (b != 0);
    case ElementwiseKind::kOr:
      return (a != 0) || (b != 0);
    case ElementwiseKind::kXor:
      return (a != 0) != (b != 0);
    case ElementwiseKind::kEqual:
      return a == b;
    case ElementwiseKind::kLess:
      return a < b;
    case ElementwiseKind::kLessOrEqual:
      return a <= b;
    case ElementwiseKind::kGreater:
      return a > b;
    case ElementwiseKind::kGreaterOrEqual:
      return a >= b;
    case ElementwiseKind::kMod:
      return ref::modulo(a, b);
    case ElementwiseKind::kFmod:
      return ref::truncatedModulo(a, b);
    case ElementwiseKind::kPRelu:
      return a < 0 ? b * a : a;
    case ElementwiseKind::kBitShiftLeft:
    case ElementwiseKind::kBitShiftRight:
    case ElementwiseKind::kBitwiseAnd:
    case ElementwiseKind::kBitwiseOr:
    case ElementwiseKind::kBitwiseXor:
      break;  // integer operations: never in a Pointwise expression (typeCheck)
  }
  return std::numeric_limits<double>::quiet_NaN();
}

/// Rounds a double result to node dtype `t`.
double round(DataType t, double v) {
  if (t == DataType::kFloat32) return static_cast<float>(v);
  if (t == DataType::kBool) return v != 0 ? 1.0 : 0.0;
  return v;
}

class PointwiseKernel final : public ref::ReferenceKernel {
 public:
  PointwiseKernel(const LayerDesc& desc, pointwise::Expr expr)
      : ReferenceKernel(desc), expr_(std::move(expr)) {}

 private:
  Status reshaped() override {
    std::vector<DataType> inTypes;
    for (const TensorDesc& t : in_)
      inTypes.push_back(t.dtype);
    auto types = pointwise::typeCheck(expr_, inTypes);
    if (!types) return layerError(desc_, types.status().message());
    types_ = *types;
    if (types_.back() != out_[0].dtype) return layerError(desc_, "output dtype mismatch");
    strides_.clear();
    for (size_t k = 0; k < in_.size(); ++k) {
      if (!ref::broadcastsTo(in_[k].dims, out_[0].dims))
        return layerError(desc_, "input " + std::to_string(k) + " " + dimsToString(in_[k].dims) +
                                     " does not broadcast to " + dimsToString(out_[0].dims));
      strides_.push_back(ref::broadcastStrides(in_[k].dims, out_[0].dims));
    }
    return Status::ok();
  }

  double evaluate(const std::vector<int64_t>& off, std::vector<double>& v) const {
    for (size_t i = 0; i < expr_.nodes.size(); ++i) {
      const Node& n = expr_.nodes[i];
      const DataType t = types_[i];
      auto arg = [&](size_t k) { return v[static_cast<size_t>(n.args[k])]; };
      auto argType = [&](size_t k) { return types_[static_cast<size_t>(n.args[k])]; };
      switch (n.op) {
        case Node::Op::kInput:
          v[i] = load(in_[static_cast<size_t>(n.input)].dtype, inPtr_[static_cast<size_t>(n.input)],
                      off[static_cast<size_t>(n.input)]);
          break;
        case Node::Op::kLiteral:
          v[i] = n.literal;
          break;
        case Node::Op::kUnary:
          if (n.unary == UnaryKind::kNot)
            v[i] = arg(0) != 0 ? 0.0 : 1.0;
          else if (n.unary == UnaryKind::kIsNaN)
            v[i] = std::isnan(arg(0)) ? 1.0 : 0.0;
          else if (n.unary == UnaryKind::kIsInf)
            v[i] = std::isinf(arg(0)) ? 1.0 : 0.0;
          else if (n.unary == UnaryKind::kIsPosInf)
            v[i] = std::isinf(arg(0)) && arg(0) > 0 ? 1.0 : 0.0;
          else if (n.unary == UnaryKind::kIsNegInf)
            v[i] = std::isinf(arg(0)) && arg(0) < 0 ? 1.0 : 0.0;
          else
            v[i] = round(t, ref::unaryFloat(n.unary, arg(0)));
          break;
        case Node::Op::kBinary:
          if (argType(0) == DataType::kFloat32)
            v[i] = round(
                t, binary<float>(n.binary, static_cast<float>(arg(0)), static_cast<float>(arg(1))));
          else if (argType(0) == DataType::kFloat64)
            v[i] = round(t, binary<double>(n.binary, arg(0), arg(1)));
          else
            v[i] = round(t, binary<double>(n.binary, arg(0), arg(1)));  // bool operands: 0 / 1
          break;
        case Node::Op::kActivation:
          v[i] = round(t, ref::activate(n.activation, arg(0), n.alpha, n.beta));
          break;
        case Node::Op::kSelect:
          v[i] = arg(0) != 0 ? arg(1) : arg(2);
          break;
        case Node::Op::kCast:
          v[i] = round(t, arg(0));  // Cast: f32 <-> f64 rounds, -> bool is x != 0, bool -> 0/1
          break;
      }
    }
    return v.back();
  }

  Status compute() override {
    const Dims& dims = out_[0].dims;
    const int64_t total = volume(dims);
    const size_t rank = dims.size(), n = in_.size();
    std::vector<int64_t> idx(rank, 0), off(n, 0);
    std::vector<double> v(expr_.nodes.size(), 0.0);
    for (int64_t i = 0; i < total; ++i) {
      store(out_[0].dtype, outPtr_[0], i, evaluate(off, v));
      for (size_t d = rank; d-- > 0;) {  // advance the odometer and every input's offset
        if (++idx[d] < dims[d]) {
          for (size_t k = 0; k < n; ++k)
            off[k] += strides_[k][d];
          break;
        }
        for (size_t k = 0; k < n; ++k)
          off[k] -= strides_[k][d] * (dims[d] - 1);
        idx[d] = 0;
      }
    }
    return Status::ok();
  }

  pointwise::Expr expr_;
  std::vector<DataType> types_;
  std::vector<ref::Strides> strides_;
};

}  // namespace

Status supportsReferencePointwise(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  auto expr = pointwise::parse(desc.layer->as<PointwiseAttrs>().expression);
  if (!expr) return layerError(desc, expr.status().message());
  std::vector<DataType> types;
  for (size_t k = 0; k < desc.inputs.size(); ++k) {
    if (!desc.hasInput(k)) return layerError(desc, "every input is required");
    types.push_back(desc.inputs[k].dtype);
  }
  auto t = pointwise::typeCheck(*expr, types);
  if (!t) return unsupported("layer '" + desc.name() + "' (Pointwise): " + t.status().message());
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createReferencePointwise(const LayerDesc& desc) {
  KILN_ASSIGN_OR_RETURN(pointwise::Expr expr,
                        pointwise::parse(desc.layer->as<PointwiseAttrs>().expression));
  return ref::makeKernel<PointwiseKernel>(desc, std::move(expr));
}

}  // namespace kiln
