#include "kiln/types.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kiln/layers.h"
#include "util/api_guard.h"
#include "util/float16.h"
#include "util/narrow_float.h"

namespace kiln {

size_t dataTypeSize(DataType t) {
  switch (t) {
    case DataType::kFloat32:
      return 4;
    case DataType::kFloat16:
      return 2;
    case DataType::kBFloat16:
      return 2;
    case DataType::kFloat64:
      return 8;
    case DataType::kInt8:
      return 1;
    case DataType::kUInt8:
      return 1;
    case DataType::kInt32:
      return 4;
    case DataType::kInt64:
      return 8;
    case DataType::kBool:
      return 1;
    case DataType::kInt16:
    case DataType::kUInt16:
      return 2;
    case DataType::kUInt32:
      return 4;
    case DataType::kUInt64:
      return 8;
    case DataType::kFloat8E4M3FN:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat8E8M0:
    case DataType::kInt4:
    case DataType::kUInt4:
    case DataType::kInt2:
    case DataType::kUInt2:
    case DataType::kFloat4E2M1:
      return 1;
  }
  return 0;
}

size_t dataTypeBits(DataType t) {
  switch (t) {
    case DataType::kInt4:
    case DataType::kUInt4:
    case DataType::kFloat4E2M1:
      return 4;
    case DataType::kInt2:
    case DataType::kUInt2:
      return 2;
    default:
      return dataTypeSize(t) * 8;
  }
}

const char* dataTypeName(DataType t) {
  switch (t) {
    case DataType::kFloat32:
      return "f32";
    case DataType::kFloat16:
      return "f16";
    case DataType::kBFloat16:
      return "bf16";
    case DataType::kFloat64:
      return "f64";
    case DataType::kInt8:
      return "i8";
    case DataType::kUInt8:
      return "u8";
    case DataType::kInt32:
      return "i32";
    case DataType::kInt64:
      return "i64";
    case DataType::kBool:
      return "bool";
    case DataType::kInt16:
      return "i16";
    case DataType::kUInt16:
      return "u16";
    case DataType::kUInt32:
      return "u32";
    case DataType::kUInt64:
      return "u64";
    case DataType::kFloat8E4M3FN:
      return "f8e4m3fn";
    case DataType::kFloat8E4M3FNUZ:
      return "f8e4m3fnuz";
    case DataType::kFloat8E5M2:
      return "f8e5m2";
    case DataType::kFloat8E5M2FNUZ:
      return "f8e5m2fnuz";
    case DataType::kFloat8E8M0:
      return "f8e8m0";
    case DataType::kInt4:
      return "i4";
    case DataType::kUInt4:
      return "u4";
    case DataType::kInt2:
      return "i2";
    case DataType::kUInt2:
      return "u2";
    case DataType::kFloat4E2M1:
      return "f4e2m1";
  }
  return "?";
}

std::optional<DataType> parseDataType(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(kLastDataType); ++i) {
    auto t = static_cast<DataType>(i);
    if (name == dataTypeName(t)) return t;
  }
  return std::nullopt;
}

int64_t volume(const Dims& dims) {
  int64_t v = 1;
  for (int64_t d : dims)
    v *= d;
  return v;
}

std::optional<int64_t> checkedMul(int64_t a, int64_t b) {
  int64_t r = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> checkedAdd(int64_t a, int64_t b) {
  int64_t r = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

Expected<int64_t> elementCount(const Dims& dims, std::string_view what) {
  int64_t n = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0)
      return invalidArgument("tensor '" + std::string(what) + "' of shape " + dimsToString(dims) +
                             ": dimension " + std::to_string(i) + " is negative");
  }
  for (int64_t d : dims) {
    if (d == 0) return int64_t{0};
  }
  for (int64_t d : dims) {
    auto r = checkedMul(n, d);
    if (!r)
      return invalidArgument("tensor '" + std::string(what) + "' of shape " + dimsToString(dims) +
                             ": its element count overflows 64 bits");
    n = *r;
  }
  return n;
}

Expected<uint64_t> byteSize(DataType dtype, const Dims& dims, std::string_view what) {
  KILN_ASSIGN_OR_RETURN(int64_t n, elementCount(dims, what));
  auto bytes = checkedMul(n, static_cast<int64_t>(dataTypeSize(dtype)));
  if (!bytes)
    return invalidArgument("tensor '" + std::string(what) + "' of shape " + dimsToString(dims) +
                           " and type " + dataTypeName(dtype) +
                           ": its size in bytes overflows 64 bits");
  return static_cast<uint64_t>(*bytes);
}

std::string dimsToString(const Dims& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

std::string shapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i].toString();
  }
  return s + "]";
}

Shape shapeFromDims(const Dims& dims) {
  Shape s;
  s.reserve(dims.size());
  for (int64_t d : dims)
    s.push_back(Dim::fixed(d));
  return s;
}

std::optional<Dims> staticDims(const Shape& shape) {
  Dims d;
  d.reserve(shape.size());
  for (const Dim& x : shape) {
    if (!x.isStatic()) return std::nullopt;
    d.push_back(x.value());
  }
  return d;
}

namespace {

/// 64-byte aligned, zero-filled heap block freed with std::free; nullptr when it cannot be
/// allocated.
std::shared_ptr<void> alignedBlock(size_t bytes) {
  constexpr size_t kAlign = 64;
  if (bytes > SIZE_MAX - kAlign) return nullptr;
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  if (rounded == 0) rounded = kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) return nullptr;
  std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

}  // namespace

Expected<Weights> Weights::zeros(DataType dtype, Dims dims, std::string_view what) try {
  KILN_ASSIGN_OR_RETURN(uint64_t bytes, byteSize(dtype, dims, what));
  auto block = alignedBlock(static_cast<size_t>(bytes));
  if (!block)
    return outOfMemory("cannot allocate " + std::to_string(bytes) + " bytes for " +
                       std::string(what) + " of shape " + dimsToString(dims) + " and type " +
                       dataTypeName(dtype));
  Weights w;
  w.dtype_ = dtype;
  w.dims_ = std::move(dims);
  w.data_ = block.get();
  w.owner_ = std::move(block);
  return w;
} catch (...) {
  return exceptionToStatus("Weights::zeros");
}

Expected<Weights> Weights::copyFrom(DataType dtype, Dims dims, const void* data, size_t bytes,
                                    std::string_view what) {
  KILN_ASSIGN_OR_RETURN(Weights w, zeros(dtype, std::move(dims), what));
  size_t n = std::min(bytes, w.bytes());
  if (n) std::memcpy(w.mutableData(), data, n);
  return w;
}

Weights Weights::borrow(DataType dtype, Dims dims, const void* data,
                        std::shared_ptr<const void> owner) {
  Weights w;
  w.dtype_ = dtype;
  w.dims_ = std::move(dims);
  w.data_ = data;
  w.owner_ = std::move(owner);
  return w;
}

namespace {
/// Weights holding a copy of `values`; std::bad_alloc when memory is exhausted.
template <class T>
Weights fromVector(DataType dtype, const std::vector<T>& values, bool scalar) {
  Dims dims = scalar ? Dims{} : Dims{static_cast<int64_t>(values.size())};
  auto w = Weights::copyFrom(dtype, dims, values.data(), values.size() * sizeof(T));
  if (!w) throw std::bad_alloc();
  return std::move(w).value();
}
}  // namespace

Weights Weights::fromInts(const std::vector<int64_t>& values, bool scalar) {
  return fromVector(DataType::kInt64, values, scalar);
}

Weights Weights::fromFloats(const std::vector<float>& values, bool scalar) {
  return fromVector(DataType::kFloat32, values, scalar);
}

namespace {
template <class Out>
Expected<std::vector<Out>> convertElements(const Weights& w) {
  const int64_t n = w.count();
  if (n < 0 || static_cast<uint64_t>(n) > std::vector<Out>().max_size())
    return outOfMemory("cannot convert " + dimsToString(w.dims()) + " " + dataTypeName(w.dtype()) +
                       " constant values: more than fit in memory");
  std::vector<Out> out(static_cast<size_t>(n));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (w.dtype()) {
      case DataType::kFloat32:
        out[i] = static_cast<Out>(w.as<float>()[i]);
        break;
      case DataType::kFloat64:
        out[i] = static_cast<Out>(w.as<double>()[i]);
        break;
      case DataType::kInt8:
        out[i] = static_cast<Out>(w.as<int8_t>()[i]);
        break;
      case DataType::kUInt8:
        out[i] = static_cast<Out>(w.as<uint8_t>()[i]);
        break;
      case DataType::kInt32:
        out[i] = static_cast<Out>(w.as<int32_t>()[i]);
        break;
      case DataType::kInt64:
        out[i] = static_cast<Out>(w.as<int64_t>()[i]);
        break;
      case DataType::kBool:
        out[i] = static_cast<Out>(w.as<uint8_t>()[i] != 0);
        break;
      case DataType::kFloat16:
        out[i] = static_cast<Out>(halfToFloat({w.as<uint16_t>()[i]}));
        break;
      case DataType::kBFloat16:
        out[i] = static_cast<Out>(bfloat16ToFloat({w.as<uint16_t>()[i]}));
        break;
      case DataType::kInt16:
        out[i] = static_cast<Out>(w.as<int16_t>()[i]);
        break;
      case DataType::kUInt16:
        out[i] = static_cast<Out>(w.as<uint16_t>()[i]);
        break;
      case DataType::kUInt32:
        out[i] = static_cast<Out>(w.as<uint32_t>()[i]);
        break;
      case DataType::kUInt64:
        out[i] = static_cast<Out>(w.as<uint64_t>()[i]);
        break;
      case DataType::kInt4:
      case DataType::kInt2:
        out[i] = static_cast<Out>(w.as<int8_t>()[i]);
        break;
      case DataType::kUInt4:
      case DataType::kUInt2:
        out[i] = static_cast<Out>(w.as<uint8_t>()[i]);
        break;
      case DataType::kFloat8E4M3FN:
      case DataType::kFloat8E4M3FNUZ:
      case DataType::kFloat8E5M2:
      case DataType::kFloat8E5M2FNUZ:
      case DataType::kFloat8E8M0:
      case DataType::kFloat4E2M1: {
        const double d = decodeNarrowFloat(w.dtype(), w.as<uint8_t>()[i]);
        if constexpr (std::is_integral_v<Out>) {
          if (!std::isfinite(d))
            return invalidArgument(std::string("non-finite ") + dataTypeName(w.dtype()) +
                                   " value where an integer was expected");
        }
        out[i] = static_cast<Out>(d);
        break;
      }
      default:
        return unsupported(std::string("cannot read ") + dataTypeName(w.dtype()) +
                           " constant values");
    }
  }
  return out;
}
}  // namespace

Expected<std::vector<int64_t>> Weights::toInts() const try {
  if (dtype_ == DataType::kFloat32 || dtype_ == DataType::kFloat64 ||
      dtype_ == DataType::kFloat16 || dtype_ == DataType::kBFloat16 || isNarrowFloat(dtype_)) {
    KILN_ASSIGN_OR_RETURN(auto d, convertElements<double>(*this));
    std::vector<int64_t> out(d.size());
    for (size_t i = 0; i < d.size(); ++i) {
      if (!std::isfinite(d[i]))
        return invalidArgument("non-finite value where an integer was expected");
      out[i] = static_cast<int64_t>(d[i]);
    }
    return out;
  }
  return convertElements<int64_t>(*this);
} catch (...) {
  return exceptionToStatus("Weights::toInts");
}

Expected<std::vector<double>> Weights::toDoubles() const try {
  return convertElements<double>(*this);
} catch (...) {
  return exceptionToStatus("Weights::toDoubles");
}

// ---- enum names ----
#define KILN_ENUM_NAME_CASE(name, str) \
  case E::k##name:                     \
    return str;
#define KILN_ENUM_COUNT(name, str) +1
#define KILN_DEFINE_ENUM_NAMES(Enum, LIST)   \
  const char* enumName(Enum v) {             \
    using E = Enum;                          \
    switch (v) { LIST(KILN_ENUM_NAME_CASE) } \
    return "?";                              \
  }                                          \
  template <>                                \
  int32_t enumCount<Enum>() {                \
    return 0 LIST(KILN_ENUM_COUNT);          \
  }

KILN_DEFINE_ENUM_NAMES(ActivationKind, KILN_ACTIVATION_KINDS)
KILN_DEFINE_ENUM_NAMES(UnaryKind, KILN_UNARY_KINDS)
KILN_DEFINE_ENUM_NAMES(ElementwiseKind, KILN_ELEMENTWISE_KINDS)
KILN_DEFINE_ENUM_NAMES(ReduceKind, KILN_REDUCE_KINDS)
KILN_DEFINE_ENUM_NAMES(PoolingKind, KILN_POOLING_KINDS)
KILN_DEFINE_ENUM_NAMES(PaddingMode, KILN_PADDING_MODES)
KILN_DEFINE_ENUM_NAMES(ShuffleMode, KILN_SHUFFLE_MODES)
KILN_DEFINE_ENUM_NAMES(GatherMode, KILN_GATHER_MODES)
KILN_DEFINE_ENUM_NAMES(ResidualMode, KILN_RESIDUAL_MODES)
KILN_DEFINE_ENUM_NAMES(AttentionLayout, KILN_ATTENTION_LAYOUTS)
KILN_DEFINE_ENUM_NAMES(PadMode, KILN_PAD_MODES)
KILN_DEFINE_ENUM_NAMES(LossReduction, KILN_LOSS_REDUCTIONS)
KILN_DEFINE_ENUM_NAMES(WindowKind, KILN_WINDOW_KINDS)
KILN_DEFINE_ENUM_NAMES(ResizeMode, KILN_RESIZE_MODES)
KILN_DEFINE_ENUM_NAMES(ResizeCoordinates, KILN_RESIZE_COORDINATES)
KILN_DEFINE_ENUM_NAMES(ResizeNearestMode, KILN_RESIZE_NEAREST_MODES)
KILN_DEFINE_ENUM_NAMES(AspectRatioPolicy, KILN_ASPECT_RATIO_POLICIES)
KILN_DEFINE_ENUM_NAMES(GridPaddingMode, KILN_GRID_PADDING_MODES)

const char* enumName(DataType v) {
  return dataTypeName(v);
}
template <>
int32_t enumCount<DataType>() {
  return static_cast<int32_t>(kLastDataType) + 1;
}

const char* layerKindName(LayerKind kind) {
  switch (kind) {
#define KILN_LAYER(kind, attrs, summary) \
  case LayerKind::k##kind:               \
    return #kind;
#include "kiln/layers.def"
#undef KILN_LAYER
  }
  return "?";
}

LayerAttrs defaultAttrs(LayerKind kind) {
  switch (kind) {
#define KILN_LAYER(kind, attrs, summary) \
  case LayerKind::k##kind:               \
    return attrs{};
#include "kiln/layers.def"
#undef KILN_LAYER
  }
  return std::monostate{};
}

}  // namespace kiln
