// kiln — reading and writing tensors as ONNX TensorProto files (the test_data_set_N layout).
#pragma once

#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln {

/// A tensor with its name, as stored in an input_K.pb / output_K.pb file.
struct NamedTensor {
  std::string name;
  Weights value;
};

/// Reads one onnx.TensorProto file. Errors name the file (missing, truncated, unsupported dtype,
/// external data).
Expected<NamedTensor> readTensorFile(const std::string& path);
/// Parses an onnx.TensorProto from memory; `source` names it in errors.
Expected<NamedTensor> parseTensorProto(const void* data, size_t size, const std::string& source);
/// Reads one onnx.SequenceProto file of tensors (a sequence-typed input_K.pb / output_K.pb):
/// its elements in order. Errors name the file (also for a sequence of sequences or maps).
Expected<std::vector<NamedTensor>> readTensorSequenceFile(const std::string& path);
/// The value of an onnx.OptionalProto file (an optional-typed input_K.pb / output_K.pb).
struct OptionalTensors {
  bool present = false;              ///< the optional holds a value
  bool sequence = false;             ///< the value is a sequence of tensors
  std::vector<NamedTensor> tensors;  ///< the tensor, or the sequence's elements
};
/// Reads one onnx.OptionalProto file of a tensor or a sequence of tensors. Errors name the file.
Expected<OptionalTensors> readTensorOptionalFile(const std::string& path);
/// Writes `value` as an onnx.TensorProto named `name`.
Status writeTensorFile(const std::string& path, const std::string& name, const Weights& value);

}  // namespace kiln
