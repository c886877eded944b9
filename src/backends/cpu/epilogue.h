// kiln — the fused epilogue of Convolution and MatrixMultiply layers (layers.h "epilogues") on
// the cpu backend: every conv / matmul tactic computes p into the output, then the epilogue
// runs over it in place, in cache-sized chunks: act(p), act(p + r) or act(p) + r, with the
// residual r broadcast to the output. Tactics decline an epilogue this cannot run.
#pragma once

#include "backends/backend.h"

namespace kiln::cpu {

/// The epilogue fields of a Convolution or MatrixMultiply layer (none for other kinds).
struct EpilogueSpec {
  ActivationKind activation = ActivationKind::kNone;
  float alpha = 0.0f, beta = 0.0f;
  ResidualMode residual = ResidualMode::kNone;
  bool any() const {
    return activation != ActivationKind::kNone || residual != ResidualMode::kNone;
  }
};
EpilogueSpec epilogueSpec(const Layer& layer);

/// Ok when the layer has no epilogue or one that applyEpilogue runs (an AVX2 activation, an
/// f32 residual that broadcasts to the output); else the reason.
Status supportsEpilogue(const LayerDesc& desc);

/// Applies `e` to y (dims `yDims`) in place; r (dims `rDims`) is the residual or null.
Status applyEpilogue(const LayerDesc& desc, const EpilogueSpec& e, float* y, const Dims& yDims,
                     const float* r, const Dims& rDims, int threads);

}  // namespace kiln::cpu
