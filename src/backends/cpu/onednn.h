// kiln — the cpu backend's use of oneDNN: the engine, memory descriptors from kiln dims, and
// post-ops (the fused epilogues of Convolution and MatrixMultiply) from activation kinds.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>
#include <vector>

#include "backends/backend.h"
#include "kiln/layers.h"

namespace kiln::cpu {

/// The process-wide oneDNN CPU engine.
const dnnl::engine& dnnlEngine();

/// Row-major f32 memory descriptor of `dims` (a scalar becomes [1]).
dnnl::memory::desc plainDesc(const Dims& dims);
/// f32 memory descriptor of `dims` with explicit element strides.
dnnl::memory::desc stridedDesc(const Dims& dims, const Dims& strides);

/// One operation of a fused epilogue, applied in order to the primitive's result:
/// activation y = f(y), or sum y = y + scale * (previous content of the output buffer).
struct PostOp {
  enum class Kind { kActivation, kSum };
  Kind kind = Kind::kActivation;
  ActivationKind activation = ActivationKind::kRelu;
  float alpha = 0.0f, beta = 0.0f;  ///< the activation's parameters (ActivationAttrs)
  float scale = 1.0f;               ///< kSum
};

/// oneDNN post-ops for `ops`; an Unsupported error naming the activation oneDNN lacks.
Expected<dnnl::post_ops> makePostOps(const std::vector<PostOp>& ops);

/// "oneDNN: what()" as a kiln error naming the layer.
Status dnnlError(const LayerDesc& desc, const dnnl::error& e, const std::string& during);

}  // namespace kiln::cpu
