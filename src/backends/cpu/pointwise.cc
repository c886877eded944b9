// kiln — cpu Pointwise (a fused elementwise expression, ir/pointwise_expr.h) on f32 and bool:
//   cpu.pointwise.f32.avx2
// The output's index space is collapsed into rows (as the binary elementwise kernel does: each
// row is a contiguous run of the output along which every input is contiguous or one repeated
// value), and each row is evaluated in blocks of kBlock elements, node by node, through the
// same AVX2 functions as the unfused layers (so the fused chain computes what the unfused cpu
// layers compute). A node whose arguments are all repeated values is computed once per block.
// Bool values are held as 0.0f / 1.0f while the expression runs.
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernels_avx2.h"
#include "backends/cpu/parallel.h"
#include "ir/pointwise_expr.h"

namespace kiln::cpu {
namespace {

using pointwise::Node;

constexpr int64_t kBlock = 512;
constexpr int64_t kGrain = 16384;

bool isScalarBinary(ElementwiseKind k) {
  switch (k) {
    case ElementwiseKind::kEqual:
    case ElementwiseKind::kLess:
    case ElementwiseKind::kLessOrEqual:
    case ElementwiseKind::kGreater:
    case ElementwiseKind::kGreaterOrEqual:
    case ElementwiseKind::kAnd:
    case ElementwiseKind::kOr:
    case ElementwiseKind::kXor:
    case ElementwiseKind::kPRelu:
      return true;
    default:
      return false;
  }
}

float scalarBinary(ElementwiseKind k, float a, float b) {
  switch (k) {
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
    case ElementwiseKind::kAnd:
      return (a != 0) && (b != 0);
    case ElementwiseKind::kOr:
      return (a != 0) || (b != 0);
    case ElementwiseKind::kXor:
      return (a != 0) != (b != 0);
    default:  // kPRelu
      return a < 0 ? b * a : a;
  }
}

bool hasBoolUnary(UnaryKind k) {
  return k == UnaryKind::kNot || k == UnaryKind::kIsNaN || k == UnaryKind::kIsInf ||
         k == UnaryKind::kIsPosInf || k == UnaryKind::kIsNegInf;
}

float boolUnary(UnaryKind k, float x) {
  switch (k) {
    case UnaryKind::kNot:
      return x == 0;
    case UnaryKind::kIsNaN:
      return std::isnan(x);
    case UnaryKind::kIsInf:
      return std::isinf(x);
    case UnaryKind::kIsPosInf:
      return std::isinf(x) && x > 0;
    default:  // kIsNegInf
      return std::isinf(x) && x < 0;
  }
}

/// Why node `n` (of dtype `t`) has no kernel here, or "" when it has one.
std::string unsupportedNode(const Node& n, DataType t) {
  if (t != DataType::kFloat32 && t != DataType::kBool) return "a node of type f64";
  switch (n.op) {
    case Node::Op::kInput:
    case Node::Op::kLiteral:
    case Node::Op::kSelect:
      return "";
    case Node::Op::kUnary:
      return avx2::hasUnary(n.unary) || hasBoolUnary(n.unary)
                 ? ""
                 : std::string("unary ") + enumName(n.unary);
    case Node::Op::kBinary:
      return avx2::hasBinary(n.binary) || isScalarBinary(n.binary)
                 ? ""
                 : std::string("binary ") + enumName(n.binary);
    case Node::Op::kActivation:
      return avx2::hasActivation(n.activation)
                 ? ""
                 : std::string("activation ") + enumName(n.activation);
    case Node::Op::kCast:
      return n.castTo == DataType::kFloat32 || n.castTo == DataType::kBool ? "" : "a cast to f64";
  }
  return "an unknown node";
}

/// One value of a block: `n` floats at p[i * step] (step 0: one repeated value).
struct Value {
  const float* p = nullptr;
  int64_t step = 0;
};

class PointwiseKernel final : public CpuKernel {
 public:
  PointwiseKernel(const LayerDesc& desc, pointwise::Expr expr)
      : CpuKernel(desc), expr_(std::move(expr)) {}

 private:
  Status reshaped() override {
    const Dims& y = out_[0].dims;
    const size_t n = in_.size();
    // Per input, element strides that read it broadcast to y (0 along broadcast dims).
    std::vector<Dims> full(n);
    for (size_t k = 0; k < n; ++k) {
      const Dims& x = in_[k].dims;
      if (x.size() > y.size())
        return layerError(desc_, "input " + std::to_string(k) + " has more dims than the output");
      full[k].assign(y.size(), 0);
      int64_t acc = 1;
      const size_t lead = y.size() - x.size();
      for (size_t i = x.size(); i-- > 0;) {
        if (x[i] != y[lead + i] && x[i] != 1)
          return layerError(desc_, "input " + std::to_string(k) + " " + dimsToString(x) +
                                       " does not broadcast to " + dimsToString(y));
        full[k][lead + i] = (x[i] == 1 && y[lead + i] != 1) ? 0 : acc;
        acc *= x[i];
      }
    }
    // Collapse, innermost first: dims of size 1 go, and a dim merges into the one inside it
    // when every input walks both the same way.
    dims_.clear();
    strides_.assign(n, Dims());
    for (size_t i = y.size(); i-- > 0;) {
      if (y[i] == 1) continue;
      if (!dims_.empty()) {
        bool merge = true;
        for (size_t k = 0; k < n; ++k)
          merge = merge && full[k][i] == strides_[k].back() * dims_.back();
        if (merge) {
          dims_.back() *= y[i];
          continue;
        }
      }
      dims_.push_back(y[i]);
      for (size_t k = 0; k < n; ++k)
        strides_[k].push_back(full[k][i]);
    }
    if (dims_.empty()) {
      dims_.push_back(1);
      for (size_t k = 0; k < n; ++k)
        strides_[k].push_back(0);
    }
    // dims_ is innermost first: dims_[0] is the row.
    len_ = dims_[0];
    rows_ = len_ == 0 ? 0 : volume(out_[0].dims) / len_;
    for (size_t k = 0; k < n; ++k)
      if (strides_[k][0] != 0 && strides_[k][0] != 1)
        return layerError(desc_, "input " + std::to_string(k) + " is not contiguous in a row");
    return Status::ok();
  }

  /// Offset of row r's first element in input k.
  int64_t rowOffset(size_t k, int64_t r) const {
    int64_t off = 0;
    for (size_t i = 1; i < dims_.size(); ++i) {
      off += (r % dims_[i]) * strides_[k][i];
      r /= dims_[i];
    }
    return off;
  }

  /// Evaluates elements [start, start + n) of row r into y (kBlock floats per node of `tmp`).
  void block(int64_t r, int64_t start, int64_t n, std::vector<float>& tmp,
             std::vector<Value>& vals) const {
    const size_t nodes = expr_.nodes.size();
    for (size_t i = 0; i < nodes; ++i) {
      const Node& nd = expr_.nodes[i];
      float* t = tmp.data() + i * kBlock;
      Value& v = vals[i];
      auto arg = [&](size_t a) -> const Value& { return vals[static_cast<size_t>(nd.args[a])]; };
      // A node of repeated arguments is one value.
      bool scalar = true;
      for (int a : nd.args)
        scalar = scalar && vals[static_cast<size_t>(a)].step == 0;
      const int64_t m = scalar ? 1 : n;
      switch (nd.op) {
        case Node::Op::kInput: {
          const size_t k = static_cast<size_t>(nd.input);
          const int64_t step = strides_[k][0];
          const int64_t off = rowOffset(k, r) + start * step;
          if (in_[k].dtype == DataType::kFloat32) {
            v = {in<float>(k) + off, step};
          } else {  // bool bytes as 0 / 1
            const uint8_t* b = in<uint8_t>(k) + off;
            const int64_t cnt = step == 0 ? 1 : n;
            for (int64_t e = 0; e < cnt; ++e)
              t[e] = b[e] != 0 ? 1.0f : 0.0f;
            v = {t, step};
          }
          continue;
        }
        case Node::Op::kLiteral:
          t[0] = nd.literal;
          v = {t, 0};
          continue;
        case Node::Op::kUnary: {
          const Value& x = arg(0);
          if (hasBoolUnary(nd.unary)) {
            for (int64_t e = 0; e < m; ++e)
              t[e] = boolUnary(nd.unary, x.p[e * x.step]);
          } else {
            avx2::unary(nd.unary, x.p, t, m);
          }
          break;
        }
        case Node::Op::kActivation:
          avx2::activation(nd.activation, nd.alpha, nd.beta, arg(0).p, t, m);
          break;
        case Node::Op::kBinary: {
          const Value& a = arg(0);
          const Value& b = arg(1);
          if (isScalarBinary(nd.binary)) {
            for (int64_t e = 0; e < m; ++e)
              t[e] = scalarBinary(nd.binary, a.p[e * a.step], b.p[e * b.step]);
          } else {
            avx2::binary(nd.binary, a.p, a.step, b.p, b.step, t, m);
          }
          break;
        }
        case Node::Op::kSelect: {
          const Value& c = arg(0);
          const Value& a = arg(1);
          const Value& b = arg(2);
          for (int64_t e = 0; e < m; ++e)
            t[e] = c.p[e * c.step] != 0 ? a.p[e * a.step] : b.p[e * b.step];
          break;
        }
        case Node::Op::kCast: {
          const Value& x = arg(0);
          if (nd.castTo == DataType::kBool) {
            for (int64_t e = 0; e < m; ++e)
              t[e] = x.p[e * x.step] != 0 ? 1.0f : 0.0f;
          } else {
            for (int64_t e = 0; e < m; ++e)
              t[e] = x.p[e * x.step];
          }
          break;
        }
      }
      v = {t, scalar ? 0 : 1};
    }
    const Value& res = vals[nodes - 1];
    const int64_t o = r * len_ + start;
    if (out_[0].dtype == DataType::kFloat32) {
      float* y = out<float>(0) + o;
      if (res.step == 0)
        std::fill(y, y + n, res.p[0]);
      else
        std::copy(res.p, res.p + n, y);
    } else {
      uint8_t* y = out<uint8_t>(0) + o;
      for (int64_t e = 0; e < n; ++e)
        y[e] = res.p[e * res.step] != 0 ? 1 : 0;
    }
  }

  Status compute() override {
    const int64_t blocksPerRow = (len_ + kBlock - 1) / kBlock;
    const int64_t units = rows_ * blocksPerRow;
    const int64_t grain = std::max<int64_t>(1, kGrain / std::min(len_, kBlock));
    parallelFor(threads_, units, grain, [&](int64_t lo, int64_t hi) {
      std::vector<float> tmp(expr_.nodes.size() * kBlock);
      std::vector<Value> vals(expr_.nodes.size());
      for (int64_t u = lo; u < hi; ++u) {
        const int64_t r = u / blocksPerRow, start = (u % blocksPerRow) * kBlock;
        block(r, start, std::min(kBlock, len_ - start), tmp, vals);
      }
    });
    return Status::ok();
  }

  pointwise::Expr expr_;
  Dims dims_;                  ///< collapsed output dims, innermost first
  std::vector<Dims> strides_;  ///< per input, per collapsed dim
  int64_t rows_ = 0, len_ = 0;
};

/// The parsed expression of a layer this tactic can run, or the reason it cannot.
Expected<pointwise::Expr> runnableExpr(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  if (desc.outputs.size() != 1) return decline(desc, "needs one output");
  std::vector<DataType> types;
  for (size_t k = 0; k < desc.inputs.size(); ++k) {
    if (!desc.hasInput(k)) return decline(desc, "an absent input");
    const DataType t = desc.inputs[k].dtype;
    if (t != DataType::kFloat32 && t != DataType::kBool)
      return decline(desc, "input " + std::to_string(k) + " is " + dataTypeName(t));
    types.push_back(t);
  }
  auto expr = pointwise::parse(desc.layer->as<PointwiseAttrs>().expression);
  if (!expr) return decline(desc, expr.status().message());
  if (expr->nodes.empty()) return decline(desc, "an empty expression");
  auto nodeTypes = pointwise::typeCheck(*expr, types);
  if (!nodeTypes) return decline(desc, nodeTypes.status().message());
  if (nodeTypes->back() != desc.outputs[0].dtype)
    return decline(desc, "the expression's type is not the output's");
  for (size_t i = 0; i < expr->nodes.size(); ++i) {
    std::string why = unsupportedNode(expr->nodes[i], (*nodeTypes)[i]);
    if (!why.empty())
      return decline(desc, why + " (" + pointwise::printNode(*expr, static_cast<int>(i)) + ")");
    if (static_cast<size_t>(expr->nodes[i].input) >= desc.inputs.size() &&
        expr->nodes[i].op == Node::Op::kInput)
      return decline(desc, "the expression reads a missing input");
  }
  return expr;
}

}  // namespace

Status supportsAvx2Pointwise(const LayerDesc& desc) {
  return runnableExpr(desc).status();
}

Expected<std::unique_ptr<Kernel>> createAvx2Pointwise(const LayerDesc& desc) {
  KILN_ASSIGN_OR_RETURN(pointwise::Expr expr, runnableExpr(desc));
  return makeKernel<PointwiseKernel>(desc, std::move(expr));
}

}  // namespace kiln::cpu
