// kiln — reference Elementwise (binary ops with numpy broadcasting) and Select (where).
//
// dtypes: arithmetic, Mod/Fmod, PRelu and ordering comparisons on f32, f64, f16, bf16, i8, u8,
// i32, i64 (f16 / bf16 computed in float and rounded once, as numpy does); bitwise ops and bit
// shifts on the integer types; And/Or/Xor on bool; Equal on those and bool; Pow takes any mix of
// the arithmetic types (result: the base's type). Integer arithmetic wraps, integer division
// truncates toward zero, and x / 0 or x % 0 on integers gives 0 (ONNX leaves it undefined; we
// refuse to trap). Max/Min on floats propagate NaN. Select moves elements of any dtype.
#include <cmath>
#include <limits>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"
#include "backends/reference/scalar_ops.h"
#include "util/float16.h"

namespace kiln {
namespace {

using ref::modulo;
using ref::shiftLeft;
using ref::shiftRight;
using ref::truncatedModulo;
using ref::wrapMul;

using ref::Strides;

#define KILN_REF_EW_TYPES float, double, int8_t, uint8_t, int32_t, int64_t
#define KILN_REF_EW_INT_TYPES int8_t, uint8_t, int32_t, int64_t, KILN_REF_EXTRA_INT_TYPES
constexpr std::initializer_list<DataType> kPowTypes = {DataType::kFloat32, DataType::kFloat64,
                                                       DataType::kInt8,    DataType::kUInt8,
                                                       DataType::kInt32,   DataType::kInt64};
constexpr std::initializer_list<DataType> kArithTypes = {
    DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16,
    DataType::kInt8,    DataType::kUInt8,   DataType::kInt32,   DataType::kInt64};
constexpr std::initializer_list<DataType> kIntTypes = {
    DataType::kInt8,  DataType::kUInt8,  DataType::kInt16, DataType::kUInt16,
    DataType::kInt32, DataType::kUInt32, DataType::kInt64, DataType::kUInt64};
constexpr std::initializer_list<DataType> kCompareTypes = {
    DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16,
    DataType::kInt8,    DataType::kUInt8,   DataType::kInt16,   DataType::kUInt16,
    DataType::kInt32,   DataType::kUInt32,  DataType::kInt64,   DataType::kUInt64};
constexpr std::initializer_list<DataType> kEqualTypes = {
    DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16,
    DataType::kInt8,    DataType::kUInt8,   DataType::kInt16,   DataType::kUInt16,
    DataType::kInt32,   DataType::kUInt32,  DataType::kInt64,   DataType::kUInt64,
    DataType::kBool};

bool isBitwise(ElementwiseKind k) {
  return k == ElementwiseKind::kBitShiftLeft || k == ElementwiseKind::kBitShiftRight ||
         k == ElementwiseKind::kBitwiseAnd || k == ElementwiseKind::kBitwiseOr ||
         k == ElementwiseKind::kBitwiseXor;
}

bool isLogical(ElementwiseKind k) {
  return k == ElementwiseKind::kAnd || k == ElementwiseKind::kOr || k == ElementwiseKind::kXor;
}

bool isComparison(ElementwiseKind k) {
  return k == ElementwiseKind::kEqual || k == ElementwiseKind::kLess ||
         k == ElementwiseKind::kLessOrEqual || k == ElementwiseKind::kGreater ||
         k == ElementwiseKind::kGreaterOrEqual;
}

class ElementwiseKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& y = out_[0].dims;
    for (size_t k = 0; k < 2; ++k)
      if (!ref::broadcastsTo(in_[k].dims, y))
        return layerError(desc_, "input " + std::to_string(k) + " dims " +
                                     dimsToString(in_[k].dims) + " do not broadcast to " +
                                     dimsToString(y));
    strides_ = {ref::contiguousStrides(y), ref::broadcastStrides(in_[0].dims, y),
                ref::broadcastStrides(in_[1].dims, y)};
    return Status::ok();
  }

  /// y[i] = op(a[i], b[i]) over the broadcast index space.
  template <class Y, class A, class B, class Op>
  Status apply(Op op) {
    const A* a = in<A>(0);
    const B* b = in<B>(1);
    Y* y = out<Y>(0);
    ref::forEachRow<3>(out_[0].dims, strides_, [&](const auto& off, int64_t len, const auto& st) {
      for (int64_t i = 0; i < len; ++i)
        y[off[0] + i * st[0]] = op(a[off[1] + i * st[1]], b[off[2] + i * st[2]]);
    });
    return Status::ok();
  }

  /// T op T -> T over the arithmetic types; f16 / bf16 through float, rounded once.
  template <class Op>
  Status arith(Op op) {
    if (in_[0].dtype == DataType::kFloat16)
      return apply<Half, Half, Half>(
          [&](Half x, Half y) { return floatToHalf(op(halfToFloat(x), halfToFloat(y))); });
    if (in_[0].dtype == DataType::kBFloat16)
      return apply<BFloat16, BFloat16, BFloat16>([&](BFloat16 x, BFloat16 y) {
        return floatToBFloat16(op(bfloat16ToFloat(x), bfloat16ToFloat(y)));
      });
    return ref::dispatchType<KILN_REF_EW_TYPES>(in_[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      return apply<T, T, T>([&](T x, T y) { return op(x, y); });
    });
  }

  /// T op T -> T over the integer types (bitwise ops and shifts).
  template <class Op>
  Status integer(Op op) {
    return ref::dispatchType<KILN_REF_EW_INT_TYPES>(in_[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      return apply<T, T, T>([&](T x, T y) { return static_cast<T>(op(x, y)); });
    });
  }

  /// T op T -> bool; f16 / bf16 compared as float (exact).
  template <class Op>
  Status compare(Op op) {
    if (in_[0].dtype == DataType::kFloat16)
      return apply<bool, Half, Half>(
          [&](Half x, Half y) { return op(halfToFloat(x), halfToFloat(y)); });
    if (in_[0].dtype == DataType::kBFloat16)
      return apply<bool, BFloat16, BFloat16>(
          [&](BFloat16 x, BFloat16 y) { return op(bfloat16ToFloat(x), bfloat16ToFloat(y)); });
    return ref::dispatchType<KILN_REF_EW_TYPES, KILN_REF_EXTRA_INT_TYPES, bool>(
        in_[0].dtype, [&](auto tag) {
          using T = decltype(tag);
          return apply<bool, T, T>([&](T x, T y) { return op(x, y); });
        });
  }

  Status powerAll() {
    return ref::dispatchType<KILN_REF_EW_TYPES>(in_[0].dtype, [&](auto baseTag) {
      using A = decltype(baseTag);
      return ref::dispatchType<KILN_REF_EW_TYPES>(in_[1].dtype, [&](auto expTag) {
        using B = decltype(expTag);
        return apply<A, A, B>([](A x, B e) { return ref::power<A, B>(x, e); });
      });
    });
  }

  Status compute() override {
    switch (attrs<ElementwiseAttrs>().kind) {
      case ElementwiseKind::kAdd:
        return arith([](auto x, auto y) { return ref::wrapAdd(x, y); });
      case ElementwiseKind::kSub:
        return arith([](auto x, auto y) { return ref::wrapSub(x, y); });
      case ElementwiseKind::kMul:
        return arith([](auto x, auto y) { return ref::wrapMul(x, y); });
      case ElementwiseKind::kDiv:
        return arith([](auto x, auto y) { return ref::divide(x, y); });
      case ElementwiseKind::kMax:
        return arith([](auto x, auto y) { return ref::maximum(x, y); });
      case ElementwiseKind::kMin:
        return arith([](auto x, auto y) { return ref::minimum(x, y); });
      case ElementwiseKind::kPow:
        return powerAll();
      case ElementwiseKind::kAnd:
        return apply<bool, bool, bool>([](bool x, bool y) { return x && y; });
      case ElementwiseKind::kOr:
        return apply<bool, bool, bool>([](bool x, bool y) { return x || y; });
      case ElementwiseKind::kXor:
        return apply<bool, bool, bool>([](bool x, bool y) { return x != y; });
      case ElementwiseKind::kEqual:
        return compare([](auto x, auto y) { return x == y; });
      case ElementwiseKind::kLess:
        return compare([](auto x, auto y) { return x < y; });
      case ElementwiseKind::kLessOrEqual:
        return compare([](auto x, auto y) { return x <= y; });
      case ElementwiseKind::kGreater:
        return compare([](auto x, auto y) { return x > y; });
      case ElementwiseKind::kGreaterOrEqual:
        return compare([](auto x, auto y) { return x >= y; });
      case ElementwiseKind::kMod:
        return arith([](auto x, auto y) { return modulo(x, y); });
      case ElementwiseKind::kFmod:
        return arith([](auto x, auto y) { return truncatedModulo(x, y); });
      case ElementwiseKind::kPRelu:
        return arith([](auto x, auto slope) {
          using T = decltype(x);
          return x < T(0) ? wrapMul(x, slope) : x;
        });
      case ElementwiseKind::kBitShiftLeft:
        return integer([](auto x, auto n) { return shiftLeft(x, n); });
      case ElementwiseKind::kBitShiftRight:
        return integer([](auto x, auto n) { return shiftRight(x, n); });
      case ElementwiseKind::kBitwiseAnd:
        return integer([](auto x, auto y) { return x & y; });
      case ElementwiseKind::kBitwiseOr:
        return integer([](auto x, auto y) { return x | y; });
      case ElementwiseKind::kBitwiseXor:
        return integer([](auto x, auto y) { return x ^ y; });
    }
    return layerError(desc_, "unknown elementwise kind");
  }

  std::array<Strides, 3> strides_;
};

class SelectKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& y = out_[0].dims;
    strides_[0] = ref::contiguousStrides(y);
    for (size_t k = 0; k < 3; ++k) {
      if (!ref::broadcastsTo(in_[k].dims, y))
        return layerError(desc_, "input " + std::to_string(k) + " dims " +
                                     dimsToString(in_[k].dims) + " do not broadcast to " +
                                     dimsToString(y));
      strides_[k + 1] = ref::broadcastStrides(in_[k].dims, y);
    }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchElementSize(dataTypeSize(out_[0].dtype), [&](auto word) {
      using W = decltype(word);
      const bool* c = in<bool>(0);
      const W* x = in<W>(1);
      const W* z = in<W>(2);
      W* y = out<W>(0);
      ref::forEachRow<4>(out_[0].dims, strides_, [&](const auto& off, int64_t len, const auto& st) {
        for (int64_t i = 0; i < len; ++i)
          y[off[0] + i * st[0]] =
              c[off[1] + i * st[1]] ? x[off[2] + i * st[2]] : z[off[3] + i * st[3]];
      });
      return Status::ok();
    });
  }

  std::array<Strides, 4> strides_;
};

}  // namespace

Status supportsReferenceElementwise(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  const ElementwiseKind kind = desc.layer->as<ElementwiseAttrs>().kind;
  const DataType a = desc.inputs[0].dtype;
  if (kind == ElementwiseKind::kPow) {
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kPowTypes));
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 1, kPowTypes));
    return ref::requireOutputType(desc, 0, {a});
  }
  if (desc.inputs[1].dtype != a)
    return layerError(desc, std::string("inputs have different dtypes (") + dataTypeName(a) +
                                " and " + dataTypeName(desc.inputs[1].dtype) + ")");
  if (isLogical(kind)) {
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, {DataType::kBool}));
    return ref::requireOutputType(desc, 0, {DataType::kBool});
  }
  if (isBitwise(kind)) {
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kIntTypes));
    return ref::requireOutputType(desc, 0, {a});
  }
  if (isComparison(kind)) {
    KILN_RETURN_IF_ERROR(ref::requireInputType(
        desc, 0, kind == ElementwiseKind::kEqual ? kEqualTypes : kCompareTypes));
    return ref::requireOutputType(desc, 0, {DataType::kBool});
  }
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kArithTypes));
  return ref::requireOutputType(desc, 0, {a});
}

Expected<std::unique_ptr<Kernel>> createReferenceElementwise(const LayerDesc& desc) {
  return ref::makeKernel<ElementwiseKernel>(desc);
}

Status supportsReferenceSelect(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 3));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, {DataType::kBool}));
  const DataType x = desc.inputs[1].dtype;
  if (desc.inputs[2].dtype != x || desc.outputs[0].dtype != x)
    return layerError(desc, std::string("x, y and the output must share a dtype (got ") +
                                dataTypeName(x) + ", " + dataTypeName(desc.inputs[2].dtype) + ", " +
                                dataTypeName(desc.outputs[0].dtype) + ")");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createReferenceSelect(const LayerDesc& desc) {
  return ref::makeKernel<SelectKernel>(desc);
}

}  // namespace kiln
