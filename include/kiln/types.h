// kiln — element types, shapes and weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/dim.h"
#include "kiln/status.h"

namespace kiln {

/// Element type of a tensor. The numeric values are stored in plan files: append only.
enum class DataType : int32_t {
  kFloat32 = 0,
  kFloat16 = 1,
  kBFloat16 = 2,
  kFloat64 = 3,
  kInt8 = 4,
  kUInt8 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 8,
  // Narrow and quantized ONNX element types. The sub-byte types (kInt4, kUInt4, kInt2, kUInt2,
  // kFloat4E2M1) hold ONE ELEMENT PER BYTE in memory (the integers as their value, sign-extended
  // for the signed ones; kFloat4E2M1 as its 4-bit code in the low bits), so every kernel indexes
  // them like bytes; ONNX files pack them (2 or 4 per byte), and only the TensorProto reader and
  // writer pack and unpack. The float8 types hold their 8-bit code.
  kInt16 = 9,
  kUInt16 = 10,
  kUInt32 = 11,
  kUInt64 = 12,
  kFloat8E4M3FN = 13,
  kFloat8E4M3FNUZ = 14,
  kFloat8E5M2 = 15,
  kFloat8E5M2FNUZ = 16,
  kFloat8E8M0 = 17,
  kInt4 = 18,
  kUInt4 = 19,
  kInt2 = 20,
  kUInt2 = 21,
  kFloat4E2M1 = 22,
};

/// The last DataType value (for loops and range checks over every type).
constexpr DataType kLastDataType = DataType::kFloat4E2M1;

/// Bytes per element in memory (1 for the sub-byte types, which kiln stores unpacked).
size_t dataTypeSize(DataType t);
/// Bits per element in ONNX files (4 for kInt4, kUInt4 and kFloat4E2M1, 2 for kInt2 and kUInt2,
/// dataTypeSize * 8 for the others).
size_t dataTypeBits(DataType t);
/// Short name: "f32", "f16", "bf16", "f64", "i8", "u8", "i32", "i64", "bool", "i16", "u16",
/// "u32", "u64", "f8e4m3fn", "f8e4m3fnuz", "f8e5m2", "f8e5m2fnuz", "f8e8m0", "i4", "u4", "i2",
/// "u2", "f4e2m1".
const char* dataTypeName(DataType t);
/// Parses a name produced by dataTypeName().
std::optional<DataType> parseDataType(std::string_view name);

/// Concrete dimensions, outermost first.
using Dims = std::vector<int64_t>;

/// Number of elements of a concrete shape (1 for a scalar). Only for dims already checked by
/// elementCount() (every tensor of a built network is): it does not detect overflow.
int64_t volume(const Dims& dims);

// ---- checked size arithmetic: the one place element counts and byte sizes are computed ----

/// a * b for non-negative sizes; nothing when an operand is negative or the product exceeds
/// INT64_MAX.
std::optional<int64_t> checkedMul(int64_t a, int64_t b);
/// a + b for non-negative sizes; nothing when an operand is negative or the sum exceeds
/// INT64_MAX.
std::optional<int64_t> checkedAdd(int64_t a, int64_t b);
/// Number of elements of `dims`, or an InvalidArgument error "tensor 'WHAT' of shape [..]: ..."
/// when a dim is negative or the count overflows int64.
Expected<int64_t> elementCount(const Dims& dims, std::string_view what);
/// Bytes of a tensor (elementCount * dataTypeSize), checked the same way.
Expected<uint64_t> byteSize(DataType dtype, const Dims& dims, std::string_view what);
/// "[2, 64, 256]"
std::string dimsToString(const Dims& dims);

/// "[batch, 3, 224, 224]"
std::string shapeToString(const Shape& shape);
/// Static shape from concrete dims.
Shape shapeFromDims(const Dims& dims);
/// The concrete dims of a shape, or nothing when a dim is symbolic.
std::optional<Dims> staticDims(const Shape& shape);

/// An immutable host buffer of typed elements (weights, constants). Copies share the storage.
/// The data pointer is 64-byte aligned.
class Weights {
 public:
  Weights() = default;

  /// Zero-filled weights of the given type and shape. An InvalidArgument error naming `what`
  /// when a dim is negative or the byte size overflows; OutOfMemory (with the size) when the
  /// memory cannot be allocated.
  static Expected<Weights> zeros(DataType dtype, Dims dims, std::string_view what = "weights");
  /// zeros(), then copies min(`bytes`, the weights' size) bytes from `data`.
  static Expected<Weights> copyFrom(DataType dtype, Dims dims, const void* data, size_t bytes,
                                    std::string_view what = "weights");
  /// Wraps memory owned by `owner` (for example a mapped plan file) without copying.
  static Weights borrow(DataType dtype, Dims dims, const void* data,
                        std::shared_ptr<const void> owner);
  /// A scalar or vector of int64 values (shape [n], or [] when `scalar`): a copy of a vector the
  /// caller holds. Like copying that vector, it throws std::bad_alloc when memory is exhausted
  /// (the one exception a kiln function lets out; every entry point that returns a Status
  /// reports it as OutOfMemory instead).
  static Weights fromInts(const std::vector<int64_t>& values, bool scalar = false);
  /// A scalar or vector of float32 values (as fromInts).
  static Weights fromFloats(const std::vector<float>& values, bool scalar = false);

  DataType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t count() const { return volume(dims_); }
  size_t bytes() const { return static_cast<size_t>(count()) * dataTypeSize(dtype_); }
  const void* data() const { return data_; }
  template <class T>
  const T* as() const {
    return static_cast<const T*>(data_);
  }
  /// True for default-constructed Weights, which hold nothing (not even a scalar).
  bool empty() const { return data_ == nullptr; }

  /// Mutable access for a freshly created buffer (only valid for copyFrom/zeros results).
  void* mutableData() { return const_cast<void*>(data_); }

  /// Elements converted to int64 (for integer, bool and float types); error for other types.
  Expected<std::vector<int64_t>> toInts() const;
  /// Elements converted to double.
  Expected<std::vector<double>> toDoubles() const;

 private:
  DataType dtype_ = DataType::kFloat32;
  Dims dims_;
  const void* data_ = nullptr;
  std::shared_ptr<const void> owner_;
};

}  // namespace kiln
