// kiln — capability questions the optimizer asks its target (STYLE.md item 5: rules ask
// capabilities, never backend names). Backends answer them (backends/backend.h); tests answer
// them with fixed tables.
#pragma once

#include "kiln/layers.h"

namespace kiln {

/// One question: "can you run X?".
struct Capability {
  enum class What {
    kLayerKind,           ///< a layer of kind `layer` at all (Attention, Pointwise, ...)
    kEpilogueActivation,  ///< `layer` (Convolution, MatrixMultiply) with epilogue `activation`
    kEpilogueResidual,    ///< `layer` with a residual input added `residual`
    kRmsNormalization,    ///< Normalization with rms = true
    kAttentionLayout,     ///< Attention with layout `layout`
    kAttentionCausal,     ///< Attention with causal = true
  };
  What what = What::kLayerKind;
  LayerKind layer = LayerKind::kConstant;
  ActivationKind activation = ActivationKind::kNone;
  ResidualMode residual = ResidualMode::kNone;
  AttentionLayout layout = AttentionLayout::kHeadsFirst;

  static Capability layerKind(LayerKind k) { return {What::kLayerKind, k}; }
  static Capability epilogueActivation(LayerKind host, ActivationKind a) {
    return {What::kEpilogueActivation, host, a};
  }
  static Capability epilogueResidual(LayerKind host, ResidualMode r) {
    return {What::kEpilogueResidual, host, ActivationKind::kNone, r};
  }
  static Capability rmsNormalization() {
    return {What::kRmsNormalization, LayerKind::kNormalization};
  }
  static Capability attentionLayout(AttentionLayout l) {
    return {What::kAttentionLayout, LayerKind::kAttention, ActivationKind::kNone,
            ResidualMode::kNone, l};
  }
  static Capability attentionCausal() { return {What::kAttentionCausal, LayerKind::kAttention}; }
};

/// What a target can run; asked by the optimizer's rules before they rewrite.
class TargetCapabilities {
 public:
  virtual ~TargetCapabilities() = default;
  virtual bool hasCapability(const Capability& c) const = 0;
};

/// A target that can run everything (the reference backend's answer; tests use it too).
class AllCapabilities final : public TargetCapabilities {
 public:
  bool hasCapability(const Capability&) const override { return true; }
};

}  // namespace kiln
