// kiln — shared pieces of the reference kernels: the ReferenceKernel base class, stride and
// broadcast helpers, and dtype dispatch.
//
// Everything here is for src/backends/reference/*.cc only. The helpers favour being obviously
// correct; the one concession to speed is that iteration is by rows (all dims but the last), so
// that no index vector is rebuilt per element.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "ir/shape_inference.h"

namespace kiln::ref {

/// Element strides of a tensor, outermost first.
using Strides = std::vector<int64_t>;

/// Row-major (contiguous) strides of `dims`.
inline Strides contiguousStrides(const Dims& dims) {
  Strides s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;)
    s[i - 1] = s[i] * dims[i];
  return s;
}

/// Strides that read a tensor of dims `in` broadcast (numpy rules, right-aligned) to dims `out`:
/// 0 along dims where `in` has size 1 (or is missing), the contiguous stride elsewhere. The
/// caller guarantees `in` broadcasts to `out` (see checkBroadcastable).
inline Strides broadcastStrides(const Dims& in, const Dims& out) {
  Strides s(out.size(), 0);
  Strides inStrides = contiguousStrides(in);
  const size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    s[lead + i] = (in[i] == 1 && out[lead + i] != 1) ? 0 : inStrides[i];
  return s;
}

/// Whether `in` broadcasts (unidirectionally) to `out`.
inline bool broadcastsTo(const Dims& in, const Dims& out) {
  if (in.size() > out.size()) return false;
  const size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] != out[lead + i] && in[i] != 1) return false;
  return true;
}

/// Product of dims[begin, end).
inline int64_t volumeOf(const Dims& dims, size_t begin, size_t end) {
  int64_t v = 1;
  for (size_t i = begin; i < end && i < dims.size(); ++i)
    v *= dims[i];
  return v;
}

/// Walks the index space `dims` row by row (a row spans the last dim) for N operands with the
/// given element strides (one entry per dim of `dims`). For each row it calls
///   row(offsets, length, steps)
/// where offsets[i] is operand i's element offset at the row start and steps[i] its stride
/// along the row. A rank-0 space is one row of length 1; an empty space calls nothing.
template <size_t N, class F>
void forEachRow(const Dims& dims, const std::array<Strides, N>& strides, F&& row) {
  std::array<int64_t, N> off{};
  std::array<int64_t, N> step{};
  if (dims.empty()) {
    row(off, int64_t{1}, step);
    return;
  }
  for (int64_t d : dims)
    if (d == 0) return;
  const size_t rank = dims.size();
  for (size_t i = 0; i < N; ++i)
    step[i] = strides[i][rank - 1];
  const int64_t len = dims[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  while (true) {
    row(off, len, step);
    // Advance the odometer over dims [0, rank-1).
    size_t d = rank - 1;
    while (d > 0) {
      --d;
      if (++idx[d] < dims[d]) {
        for (size_t i = 0; i < N; ++i)
          off[i] += strides[i][d];
        break;
      }
      for (size_t i = 0; i < N; ++i)
        off[i] -= strides[i][d] * (dims[d] - 1);
      idx[d] = 0;
      if (d == 0) return;
    }
    if (rank == 1) return;
  }
}

/// An unsigned integer type of `bytes` bytes, for moving elements without knowing their type.
template <size_t Bytes>
using ElementBits = std::conditional_t<
    Bytes == 1, uint8_t,
    std::conditional_t<Bytes == 2, uint16_t, std::conditional_t<Bytes == 4, uint32_t, uint64_t>>>;

/// Calls f(word) with `word` an unsigned integer value of the given element size (1, 2, 4, 8).
template <class F>
Status dispatchElementSize(size_t elementSize, F&& f) {
  switch (elementSize) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    case 8:
      return f(uint64_t{});
  }
  return internalError("reference: unexpected element size " + std::to_string(elementSize));
}

/// Copies the index space `dims` from `src` (element strides srcStrides) to `dst` (dstStrides),
/// moving elements of `elementSize` bytes. Offsets are in elements from the given pointers.
inline Status stridedCopy(const Dims& dims, void* dst, const Strides& dstStrides, const void* src,
                          const Strides& srcStrides, size_t elementSize) {
  return dispatchElementSize(elementSize, [&](auto word) {
    using W = decltype(word);
    W* d = static_cast<W*>(dst);
    const W* s = static_cast<const W*>(src);
    forEachRow<2>(dims, {dstStrides, srcStrides},
                  [&](const auto& off, int64_t len, const auto& st) {
                    W* dp = d + off[0];
                    const W* sp = s + off[1];
                    for (int64_t i = 0; i < len; ++i)
                      dp[i * st[0]] = sp[i * st[1]];
                  });
    return Status::ok();
  });
}

// ---- narrow and quantized element types (one byte per element in memory) ----

/// A float8 or float4 element: its code (float4 e2m1 in the low 4 bits).
template <DataType T>
struct NarrowFloat {
  static constexpr DataType kDataType = T;
  uint8_t bits = 0;
};
/// A sub-byte integer element (int4, uint4, int2, uint2): its value, sign-extended.
template <DataType T>
struct SubByteInt {
  static constexpr DataType kDataType = T;
  int8_t value = 0;
};
using F8E4M3FN = NarrowFloat<DataType::kFloat8E4M3FN>;
using F8E4M3FNUZ = NarrowFloat<DataType::kFloat8E4M3FNUZ>;
using F8E5M2 = NarrowFloat<DataType::kFloat8E5M2>;
using F8E5M2FNUZ = NarrowFloat<DataType::kFloat8E5M2FNUZ>;
using F8E8M0 = NarrowFloat<DataType::kFloat8E8M0>;
using F4E2M1 = NarrowFloat<DataType::kFloat4E2M1>;
using I4 = SubByteInt<DataType::kInt4>;
using U4 = SubByteInt<DataType::kUInt4>;
using I2 = SubByteInt<DataType::kInt2>;
using U2 = SubByteInt<DataType::kUInt2>;

template <class T>
inline constexpr bool kIsNarrowFloat = requires {
  T::kDataType;
}
&&requires(T t) {
  t.bits;
};
template <class T>
inline constexpr bool kIsSubByteInt = requires {
  T::kDataType;
}
&&requires(T t) {
  t.value;
};

/// The narrow float types and the sub-byte integer types, for dispatchType.
#define KILN_REF_NARROW_FLOAT_TYPES \
  ref::F8E4M3FN, ref::F8E4M3FNUZ, ref::F8E5M2, ref::F8E5M2FNUZ, ref::F8E8M0, ref::F4E2M1
#define KILN_REF_SUB_BYTE_INT_TYPES ref::I4, ref::U4, ref::I2, ref::U2
/// The wider integer types beside i8/u8/i32/i64.
#define KILN_REF_EXTRA_INT_TYPES int16_t, uint16_t, uint32_t, uint64_t

/// The DataType of a C++ element type.
template <class T>
constexpr DataType dataTypeOf() {
  if constexpr (requires { T::kDataType; })
    return T::kDataType;
  else if constexpr (std::is_same_v<T, int16_t>)
    return DataType::kInt16;
  else if constexpr (std::is_same_v<T, uint16_t>)
    return DataType::kUInt16;
  else if constexpr (std::is_same_v<T, uint32_t>)
    return DataType::kUInt32;
  else if constexpr (std::is_same_v<T, uint64_t>)
    return DataType::kUInt64;
  else if constexpr (std::is_same_v<T, float>)
    return DataType::kFloat32;
  else if constexpr (std::is_same_v<T, double>)
    return DataType::kFloat64;
  else if constexpr (std::is_same_v<T, int8_t>)
    return DataType::kInt8;
  else if constexpr (std::is_same_v<T, uint8_t>)
    return DataType::kUInt8;
  else if constexpr (std::is_same_v<T, int32_t>)
    return DataType::kInt32;
  else if constexpr (std::is_same_v<T, int64_t>)
    return DataType::kInt64;
  else if constexpr (std::is_same_v<T, bool>)
    return DataType::kBool;
  else
    static_assert(!sizeof(T), "no DataType for this type");
}

/// Calls f(T{}) for the C++ type of `t` when it is one of Ts; else an internal error (supports()
/// is expected to have refused the dtype before a kernel runs).
template <class... Ts, class F>
Status dispatchType(DataType t, F&& f) {
  Status result =
      internalError(std::string("reference: no kernel instance for dtype ") + dataTypeName(t));
  (void)((dataTypeOf<Ts>() == t ? (result = f(Ts{}), true) : false) || ...);
  return result;
}

/// Type lists for dispatchType, by what a family supports.
#define KILN_REF_FLOAT_TYPES float, double
#define KILN_REF_ARITH_TYPES float, double, int32_t, int64_t
#define KILN_REF_ALL_TYPES float, double, int8_t, uint8_t, int32_t, int64_t, bool

/// Whether `t` is one of `allowed`.
inline bool isOneOf(DataType t, std::initializer_list<DataType> allowed) {
  for (DataType a : allowed)
    if (a == t) return true;
  return false;
}

/// "f32, i32, i64"
inline std::string dataTypeList(std::initializer_list<DataType> types) {
  std::string s;
  for (DataType t : types)
    s += (s.empty() ? "" : ", ") + std::string(dataTypeName(t));
  return s;
}

/// Checks the layer has at least `n` inputs, each of the first `n` present.
inline Status requireInputs(const LayerDesc& desc, size_t n) {
  for (size_t k = 0; k < n; ++k)
    if (!desc.hasInput(k) || k >= desc.inputs.size())
      return layerError(desc, "input " + std::to_string(k) + " is required but absent");
  return Status::ok();
}

/// Checks the layer has at least `n` outputs.
inline Status requireOutputs(const LayerDesc& desc, size_t n) {
  if (desc.outputs.size() < n)
    return layerError(desc, "expected " + std::to_string(n) + " output(s), got " +
                                std::to_string(desc.outputs.size()));
  return Status::ok();
}

/// Checks that input k has one of the `allowed` dtypes (an Unsupported error naming the layer).
inline Status requireInputType(const LayerDesc& desc, size_t k,
                               std::initializer_list<DataType> allowed) {
  DataType t = desc.inputs[k].dtype;
  if (isOneOf(t, allowed)) return Status::ok();
  return unsupported("layer '" + desc.name() + "' (" + layerKindName(desc.kind()) + "): input " +
                     std::to_string(k) + " has dtype " + dataTypeName(t) +
                     "; the reference backend supports " + dataTypeList(allowed));
}

/// Same for output k.
inline Status requireOutputType(const LayerDesc& desc, size_t k,
                                std::initializer_list<DataType> allowed) {
  DataType t = desc.outputs[k].dtype;
  if (isOneOf(t, allowed)) return Status::ok();
  return unsupported("layer '" + desc.name() + "' (" + layerKindName(desc.kind()) + "): output " +
                     std::to_string(k) + " has dtype " + dataTypeName(t) +
                     "; the reference backend supports " + dataTypeList(allowed));
}

/// Base class of the reference kernels.
///
/// It keeps its own copy of the layer (so the kernel outlives the network it was built from),
/// stores the descs given to reshape and the pointers given to setup, and runs compute() inline
/// on the host. Subclasses implement reshaped() (geometry that depends on shapes; optional) and
/// compute() (the math).
class ReferenceKernel : public Kernel {
 public:
  explicit ReferenceKernel(const LayerDesc& desc) : layer_(std::make_unique<Layer>(*desc.layer)) {
    desc_ = desc;
    desc_.layer = layer_.get();
  }

 protected:
  /// Attributes of the layer.
  template <class A>
  const A& attrs() const {
    return layer_->as<A>();
  }

  /// Called at the end of reshape, after in_/out_ are stored.
  virtual Status reshaped() { return Status::ok(); }
  /// Runs the layer on the bound pointers.
  virtual Status compute() = 0;

  Status onReshape(const std::vector<TensorDesc>& inputs,
                   const std::vector<TensorDesc>& outputs) final {
    if (inputs.size() < desc_.inputs.size() || outputs.size() != desc_.outputs.size())
      return layerError(desc_, "reshape expected " + std::to_string(desc_.inputs.size()) +
                                   " input and " + std::to_string(desc_.outputs.size()) +
                                   " output descs, got " + std::to_string(inputs.size()) + " and " +
                                   std::to_string(outputs.size()));
    for (size_t k = 0; k < outputs.size(); ++k)
      if (outputs[k].dtype != desc_.outputs[k].dtype)
        return layerError(desc_, "reshape changed the dtype of output " + std::to_string(k));
    for (size_t k = 0; k < desc_.inputs.size(); ++k)
      if (desc_.hasInput(k) && inputs[k].dtype != desc_.inputs[k].dtype)
        return layerError(desc_, "reshape changed the dtype of input " + std::to_string(k));
    in_ = inputs;
    out_ = outputs;
    return reshaped();
  }

  Status onSetup(const std::vector<const void*>& inputs, const std::vector<void*>& outputs,
                 void* workspace) final {
    if (inputs.size() < in_.size() || outputs.size() != out_.size())
      return layerError(desc_, "setup expected " + std::to_string(in_.size()) + " input and " +
                                   std::to_string(out_.size()) + " output pointers");
    for (size_t k = 0; k < in_.size(); ++k)
      if (desc_.hasInput(k) && inputs[k] == nullptr && in_[k].bytes() != 0)
        return layerError(desc_, "setup got a null pointer for input " + std::to_string(k));
    for (size_t k = 0; k < out_.size(); ++k)
      if (outputs[k] == nullptr && out_[k].bytes() != 0)
        return layerError(desc_, "setup got a null pointer for output " + std::to_string(k));
    inPtr_ = inputs;
    outPtr_ = outputs;
    workspace_ = workspace;
    return Status::ok();
  }

  Status onRun(Stream& stream) final { return compute(); }

  /// Integer values of param input k for the current shapes: given to reshape(), else the
  /// constant the kernel was created with. Error naming the layer when neither exists.
  Expected<std::vector<int64_t>> paramInts(size_t k) const {
    const Weights* w = reshapeValue(k);
    if (w == nullptr && k < desc_.constantInputs.size()) w = desc_.constantInputs[k];
    if (w == nullptr)
      return layerError(desc_, "the values of input " + std::to_string(k) +
                                   " were not provided when the kernel was reshaped");
    auto v = w->toInts();
    if (!v) return v.status().withContext("layer '" + desc_.name() + "'");
    return v;
  }
  /// Values of param input k as doubles (Fill's float params); same sources as paramInts.
  Expected<std::vector<double>> paramDoubles(size_t k) const {
    const Weights* w = reshapeValue(k);
    if (w == nullptr && k < desc_.constantInputs.size()) w = desc_.constantInputs[k];
    if (w == nullptr)
      return layerError(desc_, "the values of input " + std::to_string(k) +
                                   " were not provided when the kernel was reshaped");
    return w->toDoubles();
  }

  /// Typed views of the bound buffers.
  template <class T>
  const T* in(size_t k) const {
    return static_cast<const T*>(inPtr_[k]);
  }
  template <class T>
  T* out(size_t k) const {
    return static_cast<T*>(outPtr_[k]);
  }

  LayerDesc desc_;  ///< desc_.layer points at layer_
  std::vector<TensorDesc> in_, out_;
  std::vector<const void*> inPtr_;
  std::vector<void*> outPtr_;
  void* workspace_ = nullptr;

 private:
  std::unique_ptr<Layer> layer_;
};

/// Splits dims around `axis` into (outer, axis size, inner) counts.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
inline AxisSplit splitAt(const Dims& dims, int64_t axis) {
  const size_t a = static_cast<size_t>(axis);
  return {ref::volumeOf(dims, 0, a), dims[a], ref::volumeOf(dims, a + 1, dims.size())};
}

/// A convolution or pooling window over up to 3 spatial dims, padded at the front with size-1
/// dims so that 1-D and 2-D layers run through the same 3-D loops.
struct Window3 {
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1},
      dilation{1, 1, 1}, padBegin{0, 0, 0}, padEnd{0, 0, 0};
};

/// Builds a Window3 from resolved geometry and the actual output spatial dims. Missing
/// strides / dilations / pads (empty vectors) take their defaults.
inline Expected<Window3> makeWindow3(const LayerDesc& desc, const ConcreteWindow& g,
                                     const Dims& inSpatial, const Dims& outSpatial) {
  const size_t s = inSpatial.size();
  if (s < 1 || s > 3 || outSpatial.size() != s || g.kernel.size() != s)
    return layerError(
        desc, "the reference backend supports 1 to 3 spatial dims, got " + std::to_string(s));
  auto pick = [s](const std::vector<int64_t>& v, size_t i, int64_t dflt) {
    return v.size() == s ? v[i] : dflt;
  };
  Window3 w;
  for (size_t i = 0; i < s; ++i) {
    const size_t j = 3 - s + i;
    w.in[j] = inSpatial[i];
    w.out[j] = outSpatial[i];
    w.kernel[j] = g.kernel[i];
    w.stride[j] = pick(g.strides, i, 1);
    w.dilation[j] = pick(g.dilations, i, 1);
    w.padBegin[j] = pick(g.padsBegin, i, 0);
    w.padEnd[j] = pick(g.padsEnd, i, 0);
    if (w.stride[j] < 1 || w.dilation[j] < 1)
      return layerError(desc, "strides and dilations must be positive");
  }
  return w;
}

/// Output positions o in [lo, hi) for which the input position o * stride + offset lies in
/// [0, inSize).
inline std::pair<int64_t, int64_t> validRange(int64_t offset, int64_t stride, int64_t inSize,
                                              int64_t outSize) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t last = inSize - 1 - offset;
  const int64_t hi = last < 0 ? 0 : std::min(outSize, last / stride + 1);
  return {std::min(lo, hi), hi};
}

/// Wraps a freshly made kernel as the Expected that create functions return.
template <class K, class... Args>
Expected<std::unique_ptr<Kernel>> makeKernel(Args&&... args) {
  return std::unique_ptr<Kernel>(std::make_unique<K>(std::forward<Args>(args)...));
}

}  // namespace kiln::ref
