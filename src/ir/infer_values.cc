// kiln — values of shape computations, symbolically.
//
// Exporters spell a reshape target as Shape -> Gather -> Unsqueeze -> Concat -> Reshape. When
// the input dims are symbols, those integer tensors still have exact values: expressions of the
// symbols. This file computes them for the layer kinds shape computations use, so that the
// builder can fold such subgraphs into Constants or SymbolicConstants and shape inference sees
// the exact reshape target. Only small integer tensors with static dims are tracked
// (kMaxTrackedValues); anything else has unknown values.
#include <algorithm>

#include "ir/shape_inference.h"

namespace kiln {
namespace {

bool isTrackedType(DataType t) {
  return t == DataType::kInt64 || t == DataType::kInt32 || t == DataType::kInt8 ||
         t == DataType::kUInt8 || t == DataType::kBool;
}

/// Static dims of a tracked tensor type, or nothing.
std::optional<Dims> trackedDims(const TensorType& t) {
  if (!isTrackedType(t.dtype)) return std::nullopt;
  auto dims = staticDims(t.shape);
  if (!dims) return std::nullopt;
  auto n = elementCount(*dims, "");
  if (!n || *n > kMaxTrackedValues) return std::nullopt;
  return dims;
}

/// Values of input k, when known.
std::optional<DimValues> inputValues(const InferDesc& desc, size_t k) {
  if (!desc.hasInput(k)) return std::nullopt;
  if (desc.valueInputs[k] != nullptr) return *desc.valueInputs[k];
  const Weights* w = desc.constantInputs[k];
  if (w == nullptr || !isTrackedType(w->dtype()) || w->count() > kMaxTrackedValues)
    return std::nullopt;
  auto ints = w->toInts();
  if (!ints) return std::nullopt;
  return DimValues(ints->begin(), ints->end());
}

/// Row-major index into `in` (broadcast to `out`) of the flat output index `i`.
size_t broadcastIndex(const Dims& out, const Dims& in, size_t i) {
  size_t idx = 0, stride = 1;
  size_t rem = i;
  for (size_t d = out.size(); d-- > 0;) {
    const size_t coord = rem % static_cast<size_t>(out[d]);
    rem /= static_cast<size_t>(out[d]);
    const size_t lead = out.size() - in.size();
    if (d >= lead) {
      const int64_t n = in[d - lead];
      if (n != 1) idx += coord * stride;
      stride *= static_cast<size_t>(n);
    }
  }
  return idx;
}

/// The value of a comparison when it is decided for every value of the symbols.
std::optional<bool> compare(ElementwiseKind k, const Dim& a, const Dim& b) {
  const DimRange r = (a - b).bounds();
  const bool known = (a - b).isKnown();
  switch (k) {
    case ElementwiseKind::kEqual:
      if (a == b) return true;
      if (Dim::provablyDifferent(a, b)) return false;
      return std::nullopt;
    case ElementwiseKind::kLess:
      if (known && r.max < 0) return true;
      if (known && r.min >= 0) return false;
      return std::nullopt;
    case ElementwiseKind::kLessOrEqual:
      if (known && r.max <= 0) return true;
      if (known && r.min > 0) return false;
      return std::nullopt;
    case ElementwiseKind::kGreater:
      if (known && r.min > 0) return true;
      if (known && r.max <= 0) return false;
      return std::nullopt;
    case ElementwiseKind::kGreaterOrEqual:
      if (known && r.min >= 0) return true;
      if (known && r.max < 0) return false;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

/// a (op) b on values; nothing when undecidable or not a shape operation.
std::optional<Dim> binary(ElementwiseKind k, const Dim& a, const Dim& b) {
  switch (k) {
    case ElementwiseKind::kAdd:
      return a + b;
    case ElementwiseKind::kSub:
      return a - b;
    case ElementwiseKind::kMul:
      return a * b;
    case ElementwiseKind::kDiv:
      // Integer division truncates toward zero; it equals floor division when both operands
      // are known to be non-negative (the divisor positive).
      if (a.isStatic() && b.isStatic()) {
        if (b.value() == 0 || (a.value() == INT64_MIN && b.value() == -1)) return std::nullopt;
        return Dim(a.value() / b.value());
      }
      if (a.bounds().min >= 0 && b.bounds().min > 0) return Dim::floorDiv(a, b);
      return std::nullopt;
    case ElementwiseKind::kMax:
      return Dim::max(a, b);
    case ElementwiseKind::kMin:
      return Dim::min(a, b);
    default: {
      auto c = compare(k, a, b);
      if (!c) return std::nullopt;
      return Dim(*c ? 1 : 0);
    }
  }
}

std::optional<DimValues> valuesOf(const InferDesc& desc, const TensorType& outType) {
  auto outDims = trackedDims(outType);
  if (!outDims) return std::nullopt;
  const size_t count = static_cast<size_t>(volume(*outDims));
  switch (desc.kind()) {
    case LayerKind::kSymbolicConstant:
      return desc.layer->as<SymbolicConstantAttrs>().values;
    case LayerKind::kShapeOf: {
      const auto& a = desc.layer->as<ShapeOfAttrs>();
      const Shape& s = desc.inputs[0].shape;
      const int64_t rank = static_cast<int64_t>(s.size());
      auto clamp = [rank](int64_t v) {
        return std::clamp<int64_t>(v < 0 ? (v < -rank ? 0 : v + rank) : v, 0, rank);
      };
      const int64_t start = clamp(a.start), end = clamp(a.end);
      DimValues v;
      for (int64_t i = start; i < end; ++i)
        v.push_back(s[static_cast<size_t>(i)]);
      return v;
    }
    case LayerKind::kCast: {
      if (!isTrackedType(desc.inputs[0].dtype)) return std::nullopt;
      auto v = inputValues(desc, 0);
      if (!v) return std::nullopt;
      const DataType to = outType.dtype;
      for (Dim& d : *v) {
        if (to == DataType::kBool) {
          if (d == 0)
            d = 0;
          else if (Dim::provablyDifferent(d, 0))
            d = 1;
          else
            return std::nullopt;
          continue;
        }
        // Narrowing casts keep values that fit; symbolic values are dims and fit an i32 in
        // practice, but only constants are converted.
        if (to != DataType::kInt64 && !d.isStatic()) return std::nullopt;
        if (to == DataType::kInt32 && (d.value() < INT32_MIN || d.value() > INT32_MAX))
          return std::nullopt;
        if (to == DataType::kInt8 && (d.value() < -128 || d.value() > 127)) return std::nullopt;
        if (to == DataType::kUInt8 && (d.value() < 0 || d.value() > 255)) return std::nullopt;
      }
      return v;
    }
    case LayerKind::kShuffle: {
      const auto& a = desc.layer->as<ShuffleAttrs>();
      if (a.mode == ShuffleMode::kTranspose && desc.inputs[0].shape.size() > 1) return std::nullopt;
      return inputValues(desc, 0);  // row-major order is kept
    }
    case LayerKind::kConcatenation: {
      if (outDims->size() != 1) return std::nullopt;
      DimValues v;
      for (size_t k = 0; k < desc.inputs.size(); ++k) {
        auto x = inputValues(desc, k);
        if (!x) return std::nullopt;
        v.insert(v.end(), x->begin(), x->end());
      }
      return v;
    }
    case LayerKind::kGather: {
      const auto& a = desc.layer->as<GatherAttrs>();
      if (a.mode != GatherMode::kDefault || desc.inputs[0].shape.size() != 1) return std::nullopt;
      auto data = inputValues(desc, 0);
      auto idx = inputValues(desc, 1);
      if (!data || !idx) return std::nullopt;
      DimValues v;
      const int64_t n = static_cast<int64_t>(data->size());
      for (const Dim& i : *idx) {
        if (!i.isStatic()) return std::nullopt;
        int64_t j = i.value() < 0 ? i.value() + n : i.value();
        if (j < 0 || j >= n) return std::nullopt;  // the run-time check reports it
        v.push_back((*data)[static_cast<size_t>(j)]);
      }
      return v;
    }
    case LayerKind::kSlice: {
      if (desc.inputs[0].shape.size() != 1) return std::nullopt;
      auto data = inputValues(desc, 0);
      if (!data) return std::nullopt;
      for (size_t k = 1; k < desc.inputs.size(); ++k)
        if (desc.hasInput(k) && !desc.valuesKnown(k)) return std::nullopt;
      auto starts = desc.intsInput(1), ends = desc.intsInput(2);
      if (!starts || !ends || starts->size() != 1 || ends->size() != 1) return std::nullopt;
      int64_t step = 1;
      if (desc.hasInput(4)) {
        auto s = desc.intsInput(4);
        if (!s || s->size() != 1) return std::nullopt;
        step = (*s)[0];
      }
      const int64_t n = static_cast<int64_t>(data->size());
      if (step == 0) return std::nullopt;
      int64_t start = (*starts)[0], end = (*ends)[0];
      if (start < 0) start = start < -n ? 0 : start + n;
      if (end < 0) end = end < -n ? -1 : end + n;
      DimValues v;
      if (step > 0) {
        start = std::clamp<int64_t>(start, 0, n);
        end = std::clamp<int64_t>(end, 0, n);
        for (int64_t i = start; i < end; i += step)
          v.push_back((*data)[static_cast<size_t>(i)]);
      } else {
        start = std::clamp<int64_t>(start, 0, n - 1);
        end = std::clamp<int64_t>(end, -1, n - 1);
        for (int64_t i = start; i > end; i += step)
          v.push_back((*data)[static_cast<size_t>(i)]);
      }
      return v;
    }
    case LayerKind::kElementwise: {
      const ElementwiseKind k = desc.layer->as<ElementwiseAttrs>().kind;
      auto a = inputValues(desc, 0), b = inputValues(desc, 1);
      auto da = staticDims(desc.inputs[0].shape), db = staticDims(desc.inputs[1].shape);
      if (!a || !b || !da || !db) return std::nullopt;
      DimValues v;
      for (size_t i = 0; i < count; ++i) {
        auto r = binary(k, (*a)[broadcastIndex(*outDims, *da, i)],
                        (*b)[broadcastIndex(*outDims, *db, i)]);
        if (!r || !r->isKnown()) return std::nullopt;
        v.push_back(*r);
      }
      return v;
    }
    case LayerKind::kSelect: {
      auto c = inputValues(desc, 0), x = inputValues(desc, 1), y = inputValues(desc, 2);
      auto dc = staticDims(desc.inputs[0].shape), dx = staticDims(desc.inputs[1].shape),
           dy = staticDims(desc.inputs[2].shape);
      if (!c || !x || !y || !dc || !dx || !dy) return std::nullopt;
      DimValues v;
      for (size_t i = 0; i < count; ++i) {
        const Dim& cond = (*c)[broadcastIndex(*outDims, *dc, i)];
        if (!cond.isStatic()) return std::nullopt;
        v.push_back(cond.value() != 0 ? (*x)[broadcastIndex(*outDims, *dx, i)]
                                      : (*y)[broadcastIndex(*outDims, *dy, i)]);
      }
      return v;
    }
    case LayerKind::kUnary: {
      auto x = inputValues(desc, 0);
      if (!x) return std::nullopt;
      switch (desc.layer->as<UnaryAttrs>().kind) {
        case UnaryKind::kIdentity:
          return x;
        case UnaryKind::kNeg:
          for (Dim& d : *x)
            d = -d;
          return x;
        case UnaryKind::kAbs:
          for (Dim& d : *x) {
            if (d.bounds().min >= 0) continue;
            if (d.bounds().max <= 0) {
              d = -d;
              continue;
            }
            return std::nullopt;
          }
          return x;
        default:
          return std::nullopt;
      }
    }
    case LayerKind::kExpand: {
      auto x = inputValues(desc, 0);
      auto dx = staticDims(desc.inputs[0].shape);
      if (!x || !dx) return std::nullopt;
      DimValues v;
      for (size_t i = 0; i < count; ++i)
        v.push_back((*x)[broadcastIndex(*outDims, *dx, i)]);
      return v;
    }
    case LayerKind::kReduce: {
      // Reductions of a 1-D shape vector to one value (the element count of a shape).
      if (count != 1 || desc.inputs[0].shape.size() != 1) return std::nullopt;
      auto x = inputValues(desc, 0);
      if (!x) return std::nullopt;
      const ReduceKind k = desc.layer->as<ReduceAttrs>().kind;
      // The product of no dims is 1: the element count of a scalar (ONNX Size of a scalar).
      if (x->empty())
        return k == ReduceKind::kProd ? std::optional<DimValues>(DimValues{Dim(1)}) : std::nullopt;
      Dim acc = (*x)[0];
      for (size_t i = 1; i < x->size(); ++i) {
        const Dim& d = (*x)[i];
        switch (k) {
          case ReduceKind::kProd:
            acc = acc * d;
            break;
          case ReduceKind::kSum:
            acc = acc + d;
            break;
          case ReduceKind::kMax:
            acc = Dim::max(acc, d);
            break;
          case ReduceKind::kMin:
            acc = Dim::min(acc, d);
            break;
          default:
            return std::nullopt;
        }
      }
      if (k != ReduceKind::kProd && k != ReduceKind::kSum && k != ReduceKind::kMax &&
          k != ReduceKind::kMin)
        return std::nullopt;
      return DimValues{acc};
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

std::vector<std::optional<DimValues>> inferValues(const InferDesc& desc,
                                                  const std::vector<TensorType>& outputs) {
  std::vector<std::optional<DimValues>> out(outputs.size());
  if (outputs.size() != 1 || desc.layer == nullptr) return out;
  auto v = valuesOf(desc, outputs[0]);
  if (v) {
    auto dims = staticDims(outputs[0].shape);
    if (dims && static_cast<int64_t>(v->size()) == volume(*dims)) out[0] = std::move(v);
  }
  return out;
}

}  // namespace kiln
