#include "importer/onnx/tensor_proto.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstring>
#include <filesystem>

#include "kiln/tensor_file.h"
#include "onnx.pb.h"
#include "util/api_guard.h"
#include "util/file_io.h"
#include "util/narrow_float.h"

namespace kiln::onnx_import {

namespace {

using ::onnx::TensorProto;

/// Element count of `dims`, refusing negative dims and products that overflow (so that a
/// hostile file cannot make us allocate or index out of range).
Expected<int64_t> checkedCount(const TensorProto& proto, const std::string& what, size_t elemSize) {
  constexpr int64_t kMaxBytes = int64_t{1} << 46;  // 64 TiB: far above any real tensor
  int64_t count = 1;
  for (int64_t d : proto.dims()) {
    if (d < 0) return invalidModel(what + " has a negative dim (" + std::to_string(d) + ")");
    if (d != 0 && count > kMaxBytes / static_cast<int64_t>(elemSize) / d)
      return invalidModel(what + " has dims too large to hold in memory");
    count *= d;
  }
  return count;
}

Dims dimsOf(const TensorProto& proto) {
  return Dims(proto.dims().begin(), proto.dims().end());
}

/// Bytes that `count` elements of `dtype` take in an ONNX file (sub-byte types packed).
uint64_t packedBytes(DataType dtype, int64_t count) {
  const uint64_t bits = dataTypeBits(dtype);
  const uint64_t perByte = bits < 8 ? 8 / bits : 0;
  if (perByte) return (static_cast<uint64_t>(count) + perByte - 1) / perByte;
  return static_cast<uint64_t>(count) * dataTypeSize(dtype);
}

/// Unpacks sub-byte elements (first element in the lowest bits) into one element per byte,
/// sign-extending the signed integer types.
Expected<Weights> unpackSubByte(DataType dtype, const Dims& dims, int64_t count,
                                const uint8_t* packed) {
  const int bits = static_cast<int>(dataTypeBits(dtype));
  const int perByte = 8 / bits;
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  KILN_ASSIGN_OR_RETURN(Weights w, Weights::zeros(dtype, dims));
  int8_t* out = static_cast<int8_t*>(w.mutableData());
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t code = (packed[i / perByte] >> ((i % perByte) * bits)) & mask;
    out[i] =
        dtype == DataType::kFloat4E2M1 ? static_cast<int8_t>(code) : wrapSubByteInt(dtype, code);
  }
  return w;
}

/// Packs one-element-per-byte sub-byte values into the ONNX layout.
std::string packSubByte(const Weights& w) {
  const int bits = static_cast<int>(dataTypeBits(w.dtype()));
  const int perByte = 8 / bits;
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  std::string out(packedBytes(w.dtype(), w.count()), '\0');
  const uint8_t* in = w.as<uint8_t>();
  for (int64_t i = 0; i < w.count(); ++i)
    out[i / perByte] = static_cast<char>(static_cast<uint8_t>(out[i / perByte]) |
                                         ((in[i] & mask) << ((i % perByte) * bits)));
  return out;
}

/// Reads sub-byte elements from int32_data, where each value holds one packed byte.
Expected<Weights> fromPackedInt32Field(const TensorProto& proto, DataType dtype, int64_t count,
                                       const std::string& what) {
  const uint64_t bytes = packedBytes(dtype, count);
  if (static_cast<uint64_t>(proto.int32_data_size()) != bytes)
    return invalidModel(what + ": int32_data holds " + std::to_string(proto.int32_data_size()) +
                        " values, dims " + dimsToString(dimsOf(proto)) + " of " +
                        dataTypeName(dtype) + " need " + std::to_string(bytes) +
                        " (one packed byte each)");
  std::vector<uint8_t> packed(bytes);
  for (uint64_t i = 0; i < bytes; ++i)
    packed[i] = static_cast<uint8_t>(proto.int32_data(static_cast<int>(i)));
  return unpackSubByte(dtype, dimsOf(proto), count, packed.data());
}

/// Copies a typed repeated field into freshly allocated weights, narrowing each value to the
/// storage type `S`.
template <class S, class Field>
Expected<Weights> fromTypedField(const TensorProto& proto, const Field& field,
                                 const char* fieldName, DataType dtype, int64_t count,
                                 const std::string& what) {
  if (static_cast<int64_t>(field.size()) != count)
    return invalidModel(what + ": " + fieldName + " holds " + std::to_string(field.size()) +
                        " values, dims " + dimsToString(dimsOf(proto)) + " need " +
                        std::to_string(count));
  KILN_ASSIGN_OR_RETURN(Weights w, Weights::zeros(dtype, dimsOf(proto), what));
  S* out = static_cast<S*>(w.mutableData());
  for (int64_t i = 0; i < count; ++i) {
    if constexpr (std::is_same_v<S, uint8_t>) {
      // BOOL stores 0/1; UINT8 stores the value.
      out[i] = dtype == DataType::kBool ? static_cast<uint8_t>(field.Get(static_cast<int>(i)) != 0)
                                        : static_cast<uint8_t>(field.Get(static_cast<int>(i)));
    } else {
      out[i] = static_cast<S>(field.Get(static_cast<int>(i)));
    }
  }
  return w;
}

/// True when `location` is relative and has no ".." (checked before resolving, so that the
/// message for these plain escapes is the clearest one).
bool isContainedPath(const std::string& location) {
  std::filesystem::path p(location);
  if (location.empty() || p.is_absolute() || p.has_root_name()) return false;
  for (const auto& part : p)
    if (part == "..") return false;
  return true;
}

/// Opens the external data file `location` of a tensor. It must be a relative path that, with
/// every symlink resolved, names a regular file inside the model's folder (resolved too): a
/// model must not make kiln read /etc/passwd into a plan, nor block on a FIFO.
Expected<RegularFile> openExternalFile(const std::string& location, const std::string& baseDir,
                                       const std::string& what) {
  namespace fs = std::filesystem;
  if (!isContainedPath(location))
    return invalidModel(what + ": external data location '" + location +
                        "' must be a relative path inside the model's folder, without '..'");
  std::error_code ec;
  const fs::path base = fs::canonical(baseDir, ec);
  if (ec)
    return ioError(what + ": cannot resolve the model's folder '" + baseDir + "': " + ec.message());
  const fs::path joined = fs::path(baseDir) / location;
  const fs::path resolved = fs::canonical(joined, ec);
  if (ec) {
    std::string m =
        what + ": cannot open external data file '" + joined.string() + "': " + ec.message();
    return ec == std::errc::no_such_file_or_directory ? notFound(m) : ioError(m);
  }
  auto [b, r] = std::mismatch(base.begin(), base.end(), resolved.begin(), resolved.end());
  if (b != base.end())
    return invalidModel(what + ": external data location '" + location + "' resolves to '" +
                        resolved.string() + "', outside the model's folder '" + base.string() +
                        "'");
  Expected<RegularFile> file = RegularFile::open(resolved.string(), "external data file");
  if (!file) return file.status().withContext(what);
  return file;
}

/// A non-negative integer value of an external_data key.
Expected<int64_t> externalDataInt(const std::string& key, const std::string& s,
                                  const std::string& what) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0)
    return invalidModel(what + ": external data key '" + key + "' has value '" + s +
                        "', expected an integer in [0, 2^63)");
  return v;
}

Expected<Weights> fromExternal(const TensorProto& proto, DataType dtype, int64_t count,
                               const std::string& baseDir, const std::string& what) {
  std::string location;
  int64_t offset = 0;
  std::optional<int64_t> length;
  for (const auto& kv : proto.external_data()) {
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset") {
      KILN_ASSIGN_OR_RETURN(offset, externalDataInt(kv.key(), kv.value(), what));
    } else if (kv.key() == "length") {
      KILN_ASSIGN_OR_RETURN(length, externalDataInt(kv.key(), kv.value(), what));
    }
  }
  if (location.empty()) return invalidModel(what + ": external data without a 'location'");
  const std::optional<int64_t> needed =
      dataTypeBits(dtype) < 8
          ? std::optional<int64_t>(static_cast<int64_t>(packedBytes(dtype, count)))
          : checkedMul(count, static_cast<int64_t>(dataTypeSize(dtype)));
  if (!needed) return invalidModel(what + ": dims " + dimsToString(dimsOf(proto)) + " overflow");
  if (length && *length != *needed)
    return invalidModel(what + ": external data length " + std::to_string(*length) +
                        " bytes, dims " + dimsToString(dimsOf(proto)) + " need " +
                        std::to_string(*needed));
  KILN_ASSIGN_OR_RETURN(RegularFile file, openExternalFile(location, baseDir, what));
  const std::optional<int64_t> end = checkedAdd(offset, *needed);
  if (!end || static_cast<uint64_t>(*end) > file.size())
    return invalidModel(what + ": external data file '" + file.path() + "' holds " +
                        std::to_string(file.size()) + " bytes, the tensor needs " +
                        std::to_string(*needed) + " bytes at offset " + std::to_string(offset));
  if (dataTypeBits(dtype) < 8) {
    std::vector<uint8_t> packed(static_cast<size_t>(*needed));
    KILN_RETURN_IF_ERROR(
        file.readAt(static_cast<uint64_t>(offset), packed.data(), static_cast<uint64_t>(*needed))
            .withContext(what));
    return unpackSubByte(dtype, dimsOf(proto), count, packed.data());
  }
  KILN_ASSIGN_OR_RETURN(Weights w, Weights::zeros(dtype, dimsOf(proto), what));
  KILN_RETURN_IF_ERROR(
      file.readAt(static_cast<uint64_t>(offset), w.mutableData(), static_cast<uint64_t>(*needed))
          .withContext(what));
  return w;
}

}  // namespace

std::optional<DataType> dataTypeFromOnnx(int32_t code) {
  switch (code) {
    case TensorProto::FLOAT:
      return DataType::kFloat32;
    case TensorProto::DOUBLE:
      return DataType::kFloat64;
    case TensorProto::FLOAT16:
      return DataType::kFloat16;
    case TensorProto::BFLOAT16:
      return DataType::kBFloat16;
    case TensorProto::INT8:
      return DataType::kInt8;
    case TensorProto::UINT8:
      return DataType::kUInt8;
    case TensorProto::INT32:
      return DataType::kInt32;
    case TensorProto::INT64:
      return DataType::kInt64;
    case TensorProto::BOOL:
      return DataType::kBool;
    case TensorProto::INT16:
      return DataType::kInt16;
    case TensorProto::UINT16:
      return DataType::kUInt16;
    case TensorProto::UINT32:
      return DataType::kUInt32;
    case TensorProto::UINT64:
      return DataType::kUInt64;
    case TensorProto::FLOAT8E4M3FN:
      return DataType::kFloat8E4M3FN;
    case TensorProto::FLOAT8E4M3FNUZ:
      return DataType::kFloat8E4M3FNUZ;
    case TensorProto::FLOAT8E5M2:
      return DataType::kFloat8E5M2;
    case TensorProto::FLOAT8E5M2FNUZ:
      return DataType::kFloat8E5M2FNUZ;
    case TensorProto::FLOAT8E8M0:
      return DataType::kFloat8E8M0;
    case TensorProto::INT4:
      return DataType::kInt4;
    case TensorProto::UINT4:
      return DataType::kUInt4;
    case TensorProto::INT2:
      return DataType::kInt2;
    case TensorProto::UINT2:
      return DataType::kUInt2;
    case TensorProto::FLOAT4E2M1:
      return DataType::kFloat4E2M1;
    default:
      return std::nullopt;
  }
}

int32_t dataTypeToOnnx(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return TensorProto::FLOAT;
    case DataType::kFloat16:
      return TensorProto::FLOAT16;
    case DataType::kBFloat16:
      return TensorProto::BFLOAT16;
    case DataType::kFloat64:
      return TensorProto::DOUBLE;
    case DataType::kInt8:
      return TensorProto::INT8;
    case DataType::kUInt8:
      return TensorProto::UINT8;
    case DataType::kInt32:
      return TensorProto::INT32;
    case DataType::kInt64:
      return TensorProto::INT64;
    case DataType::kBool:
      return TensorProto::BOOL;
    case DataType::kInt16:
      return TensorProto::INT16;
    case DataType::kUInt16:
      return TensorProto::UINT16;
    case DataType::kUInt32:
      return TensorProto::UINT32;
    case DataType::kUInt64:
      return TensorProto::UINT64;
    case DataType::kFloat8E4M3FN:
      return TensorProto::FLOAT8E4M3FN;
    case DataType::kFloat8E4M3FNUZ:
      return TensorProto::FLOAT8E4M3FNUZ;
    case DataType::kFloat8E5M2:
      return TensorProto::FLOAT8E5M2;
    case DataType::kFloat8E5M2FNUZ:
      return TensorProto::FLOAT8E5M2FNUZ;
    case DataType::kFloat8E8M0:
      return TensorProto::FLOAT8E8M0;
    case DataType::kInt4:
      return TensorProto::INT4;
    case DataType::kUInt4:
      return TensorProto::UINT4;
    case DataType::kInt2:
      return TensorProto::INT2;
    case DataType::kUInt2:
      return TensorProto::UINT2;
    case DataType::kFloat4E2M1:
      return TensorProto::FLOAT4E2M1;
  }
  return TensorProto::UNDEFINED;
}

std::string onnxDataTypeName(int32_t code) {
  if (TensorProto::DataType_IsValid(code))
    return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(code));
  return "<code " + std::to_string(code) + ">";
}

Expected<Weights> weightsFromTensorProto(const TensorProto& proto, const std::string& baseDir) {
  const std::string what = "tensor '" + proto.name() + "'";
  std::optional<DataType> dtype = dataTypeFromOnnx(proto.data_type());
  if (!dtype)
    return unsupported(what + " has element type " + onnxDataTypeName(proto.data_type()) +
                       ", which kiln does not support");
  if (proto.has_segment()) return unsupported(what + " is segmented, which kiln does not support");
  const size_t elemSize = dataTypeSize(*dtype);
  KILN_ASSIGN_OR_RETURN(int64_t count, checkedCount(proto, what, elemSize));

  if (proto.data_location() == TensorProto::EXTERNAL) {
    if (baseDir.empty())
      return invalidModel(what +
                          " uses external data, which needs the model's file location "
                          "(parse the model from its file)");
    return fromExternal(proto, *dtype, count, baseDir, what);
  }
  if (proto.has_raw_data()) {
    const std::string& raw = proto.raw_data();
    const uint64_t needed = packedBytes(*dtype, count);
    if (raw.size() != needed)
      return invalidModel(what + ": raw_data holds " + std::to_string(raw.size()) +
                          " bytes, dims " + dimsToString(dimsOf(proto)) + " of " +
                          dataTypeName(*dtype) + " need " + std::to_string(needed));
    if (dataTypeBits(*dtype) < 8)
      return unpackSubByte(*dtype, dimsOf(proto), count,
                           reinterpret_cast<const uint8_t*>(raw.data()));
    return Weights::copyFrom(*dtype, dimsOf(proto), raw.data(), raw.size(), what);
  }
  switch (*dtype) {
    case DataType::kFloat32:
      return fromTypedField<float>(proto, proto.float_data(), "float_data", *dtype, count, what);
    case DataType::kFloat64:
      return fromTypedField<double>(proto, proto.double_data(), "double_data", *dtype, count, what);
    case DataType::kInt64:
      return fromTypedField<int64_t>(proto, proto.int64_data(), "int64_data", *dtype, count, what);
    case DataType::kInt32:
      return fromTypedField<int32_t>(proto, proto.int32_data(), "int32_data", *dtype, count, what);
    case DataType::kInt8:
      return fromTypedField<int8_t>(proto, proto.int32_data(), "int32_data", *dtype, count, what);
    case DataType::kUInt8:
    case DataType::kBool:
      return fromTypedField<uint8_t>(proto, proto.int32_data(), "int32_data", *dtype, count, what);
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kUInt16:
      // The 16-bit pattern sits in the low half of each int32 value.
      return fromTypedField<uint16_t>(proto, proto.int32_data(), "int32_data", *dtype, count, what);
    case DataType::kInt16:
      return fromTypedField<int16_t>(proto, proto.int32_data(), "int32_data", *dtype, count, what);
    case DataType::kUInt32:
      return fromTypedField<uint32_t>(proto, proto.uint64_data(), "uint64_data", *dtype, count,
                                      what);
    case DataType::kUInt64:
      return fromTypedField<uint64_t>(proto, proto.uint64_data(), "uint64_data", *dtype, count,
                                      what);
    case DataType::kFloat8E4M3FN:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat8E8M0:
      // The 8-bit code sits in the low byte of each int32 value.
      return fromTypedField<uint8_t>(proto, proto.int32_data(), "int32_data", *dtype, count, what);
    case DataType::kInt4:
    case DataType::kUInt4:
    case DataType::kInt2:
    case DataType::kUInt2:
    case DataType::kFloat4E2M1:
      return fromPackedInt32Field(proto, *dtype, count, what);
  }
  return internalError(what + ": unhandled element type");
}

void weightsToTensorProto(const Weights& value, const std::string& name, TensorProto* out) {
  out->Clear();
  out->set_name(name);
  out->set_data_type(dataTypeToOnnx(value.dtype()));
  for (int64_t d : value.dims())
    out->add_dims(d);
  if (dataTypeBits(value.dtype()) < 8)
    out->set_raw_data(packSubByte(value));
  else if (value.bytes() > 0)
    out->set_raw_data(value.data(), value.bytes());
  else
    out->set_raw_data(std::string());
}

std::string parentDir(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

namespace {

Expected<NamedTensor> parseTensorProtoIn(const void* data, size_t size, const std::string& source,
                                         const std::string& baseDir) {
  if (size > static_cast<size_t>(INT_MAX))
    return unsupported("'" + source + "' is larger than 2 GiB, the protobuf limit");
  TensorProto proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size)))
    return parseError("'" + source + "' is not a valid onnx.TensorProto (truncated or corrupt)");
  Expected<Weights> w = weightsFromTensorProto(proto, baseDir);
  if (!w) return w.status().withContext("'" + source + "'");
  return NamedTensor{proto.name(), std::move(w).value()};
}

/// onnx.SequenceProto lives in onnx-data.proto, which kiln does not compile; its wire format
/// is read here: name = 1, elem_type = 2, tensor_values = 3 (repeated TensorProto), then sparse
/// tensors (4), sequences (5), maps (6) and optionals (7), which kiln does not read.
Expected<std::vector<NamedTensor>> parseSequenceProtoIn(const void* data, size_t size,
                                                        const std::string& source,
                                                        const std::string& baseDir) {
  if (size > static_cast<size_t>(INT_MAX))
    return unsupported("'" + source + "' is larger than 2 GiB, the protobuf limit");
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(static_cast<const uint8_t*>(data),
                                            static_cast<int>(size));
  auto corrupt = [&]() {
    return parseError("'" + source + "' is not a valid onnx.SequenceProto (truncated or corrupt)");
  };
  std::vector<NamedTensor> out;
  while (uint32_t tag = in.ReadTag()) {
    const int field = static_cast<int>(WireFormatLite::GetTagFieldNumber(tag));
    if (field == 3 &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length) || length > size) return corrupt();
      std::string bytes;
      if (!in.ReadString(&bytes, static_cast<int>(length))) return corrupt();
      TensorProto t;
      if (!t.ParseFromString(bytes)) return corrupt();
      Expected<Weights> w = weightsFromTensorProto(t, baseDir);
      if (!w)
        return w.status().withContext("'" + source + "' element " + std::to_string(out.size()));
      out.push_back(NamedTensor{t.name(), std::move(w).value()});
      continue;
    }
    if (field >= 4 && field <= 7)
      return unsupported("'" + source + "' holds a sequence of " +
                         (field == 4   ? "sparse tensors"
                          : field == 5 ? "sequences"
                          : field == 6 ? "maps"
                                       : "optionals") +
                         "; kiln reads sequences of tensors");
    if (!WireFormatLite::SkipField(&in, tag)) return corrupt();
  }
  if (!in.ConsumedEntireMessage()) return corrupt();
  return out;
}

/// onnx.OptionalProto (onnx-data.proto, read by hand as above): name = 1, elem_type = 2,
/// tensor_value = 3, sparse_tensor_value = 4, sequence_value = 5, map_value = 6,
/// optional_value = 7.
Expected<OptionalTensors> parseOptionalProtoIn(const void* data, size_t size,
                                               const std::string& source,
                                               const std::string& baseDir) {
  if (size > static_cast<size_t>(INT_MAX))
    return unsupported("'" + source + "' is larger than 2 GiB, the protobuf limit");
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(static_cast<const uint8_t*>(data),
                                            static_cast<int>(size));
  auto corrupt = [&]() {
    return parseError("'" + source + "' is not a valid onnx.OptionalProto (truncated or corrupt)");
  };
  OptionalTensors out;
  while (uint32_t tag = in.ReadTag()) {
    const int field = static_cast<int>(WireFormatLite::GetTagFieldNumber(tag));
    const bool delimited =
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if ((field == 3 || field == 5) && delimited) {
      if (out.present) return corrupt();  // one value at most
      uint32_t length = 0;
      if (!in.ReadVarint32(&length) || length > size) return corrupt();
      std::string bytes;
      if (!in.ReadString(&bytes, static_cast<int>(length))) return corrupt();
      out.present = true;
      if (field == 5) {
        out.sequence = true;
        KILN_ASSIGN_OR_RETURN(out.tensors,
                              parseSequenceProtoIn(bytes.data(), bytes.size(), source, baseDir));
        continue;
      }
      TensorProto t;
      if (!t.ParseFromString(bytes)) return corrupt();
      Expected<Weights> w = weightsFromTensorProto(t, baseDir);
      if (!w) return w.status().withContext("'" + source + "'");
      out.tensors.push_back(NamedTensor{t.name(), std::move(w).value()});
      continue;
    }
    if (field == 4 || field == 6 || field == 7)
      return unsupported("'" + source + "' holds an optional " +
                         (field == 4   ? "sparse tensor"
                          : field == 6 ? "map"
                                       : "optional") +
                         "; kiln reads optional tensors and sequences of tensors");
    if (!WireFormatLite::SkipField(&in, tag)) return corrupt();
  }
  if (!in.ConsumedEntireMessage()) return corrupt();
  return out;
}

}  // namespace

}  // namespace kiln::onnx_import

namespace kiln {

Expected<OptionalTensors> readTensorOptionalFile(const std::string& path) try {
  KILN_ASSIGN_OR_RETURN(std::string bytes,
                        readRegularFile(path, "tensor file", onnx_import::kMaxProtobufBytes,
                                        "the protobuf limit for one message"));
  std::string dir = onnx_import::parentDir(path);
  return onnx_import::parseOptionalProtoIn(bytes.data(), bytes.size(), path,
                                           dir.empty() ? "." : dir);
} catch (...) {
  return exceptionToStatus("readTensorOptionalFile");
}

Expected<std::vector<NamedTensor>> readTensorSequenceFile(const std::string& path) try {
  KILN_ASSIGN_OR_RETURN(std::string bytes,
                        readRegularFile(path, "tensor file", onnx_import::kMaxProtobufBytes,
                                        "the protobuf limit for one message"));
  std::string dir = onnx_import::parentDir(path);
  return onnx_import::parseSequenceProtoIn(bytes.data(), bytes.size(), path,
                                           dir.empty() ? "." : dir);
} catch (...) {
  return exceptionToStatus("readTensorSequenceFile");
}

Expected<NamedTensor> readTensorFile(const std::string& path) try {
  KILN_ASSIGN_OR_RETURN(std::string bytes,
                        readRegularFile(path, "tensor file", onnx_import::kMaxProtobufBytes,
                                        "the protobuf limit for one message"));
  std::string dir = onnx_import::parentDir(path);
  return onnx_import::parseTensorProtoIn(bytes.data(), bytes.size(), path, dir.empty() ? "." : dir);
} catch (...) {
  return exceptionToStatus("readTensorFile");
}

Expected<NamedTensor> parseTensorProto(const void* data, size_t size,
                                       const std::string& source) try {
  return onnx_import::parseTensorProtoIn(data, size, source, "");
} catch (...) {
  return exceptionToStatus("parseTensorProto");
}

Status writeTensorFile(const std::string& path, const std::string& name, const Weights& value) try {
  ::onnx::TensorProto proto;
  onnx_import::weightsToTensorProto(value, name, &proto);
  std::string bytes;
  if (!proto.SerializeToString(&bytes))
    return internalError("serializing tensor '" + name + "' failed");
  return writeRegularFile(path, "tensor file", bytes);
} catch (...) {
  return exceptionToStatus("writeTensorFile");
}

}  // namespace kiln
