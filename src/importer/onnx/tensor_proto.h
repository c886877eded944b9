// kiln — onnx.TensorProto <-> Weights, shared by the importer and the tensor-file API.
//
// Internal header: it names protobuf types, so only code inside the kiln library (which links
// the generated ONNX schema) may include it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kiln/status.h"
#include "kiln/types.h"

namespace onnx {
class TensorProto;
}  // namespace onnx

namespace kiln::onnx_import {

/// The kiln type of an ONNX TensorProto.DataType code; nothing for types kiln does not handle
/// (string, complex, unsigned 16/32/64-bit, float8, 4-bit...).
std::optional<DataType> dataTypeFromOnnx(int32_t code);
/// The ONNX TensorProto.DataType code of a kiln type.
int32_t dataTypeToOnnx(DataType dtype);
/// "FLOAT", "BFLOAT16", ... or "<code N>" for codes this schema does not know.
std::string onnxDataTypeName(int32_t code);

/// Decodes a TensorProto into weights. Data comes from raw_data, the typed repeated fields or an
/// external file resolved against `baseDir` (the model's folder; empty: external data is an
/// error). Sizes are checked against the dims before any copy; errors name the tensor and, for
/// external data, the file.
Expected<Weights> weightsFromTensorProto(const ::onnx::TensorProto& proto,
                                         const std::string& baseDir);

/// Encodes `value` as name + dims + data_type + raw_data (little-endian, as ONNX requires).
void weightsToTensorProto(const Weights& value, const std::string& name, ::onnx::TensorProto* out);

/// Largest protobuf message (model or tensor file) kiln parses: protobuf's own 2 GiB limit.
inline constexpr uint64_t kMaxProtobufBytes = 0x7fffffff;

/// The folder part of `path` ("" for a bare file name, which means the current folder).
std::string parentDir(const std::string& path);

}  // namespace kiln::onnx_import
