// kiln — descriptors of one layer at build or load time: the concrete types and dims of its
// tensors and the values of its constant inputs. Shared by shape inference (ir/), constant
// folding (passes/) and the backends' tactics (backends/), so it lives in the lowest of them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kiln/network.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln {

/// Concrete type and dims of one tensor.
struct TensorDesc {
  DataType dtype = DataType::kFloat32;
  Dims dims;
  size_t bytes() const { return static_cast<size_t>(volume(dims)) * dataTypeSize(dtype); }
  bool operator==(const TensorDesc& o) const { return dtype == o.dtype && dims == o.dims; }
};

/// Everything a tactic needs to know about one layer at build or load time.
struct LayerDesc {
  const Layer* layer = nullptr;
  std::vector<TensorDesc> inputs;  ///< dtype kFloat32 / empty dims for absent inputs
  std::vector<bool> inputPresent;  ///< false for absent optional inputs
  std::vector<TensorDesc> outputs;
  /// Values of constant inputs (weights, and the "param" inputs of layers.def); nullptr when
  /// the input is not a constant. Valid for the life of the engine.
  std::vector<const Weights*> constantInputs;
  /// Threads the kernel may use when it runs (the engine's thread count; >= 1). Host backends
  /// read it at create time; it never changes for a kernel.
  int threads = 1;
  /// Build time only: float32 products may use TF32 tensor-core math (precision tf32 or
  /// lower). A tactic that does says so in its name, so a plan reproduces without it.
  bool allowTf32 = false;

  const std::string& name() const { return layer->name; }
  LayerKind kind() const { return layer->kind(); }
  bool hasInput(size_t k) const { return k < inputPresent.size() && inputPresent[k]; }
  /// Integer values of constant input k (error naming the layer if it is not constant).
  Expected<std::vector<int64_t>> intsInput(size_t k) const;
};

}  // namespace kiln
