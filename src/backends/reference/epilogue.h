// kiln — the epilogue of Convolution and MatrixMultiply on the reference backend (layers.h,
// "epilogues"): applied in place to the layer's own result, each step rounded to the output
// type exactly as the unfused Elementwise and Activation layers would round it, so a fused
// layer equals the chain it replaced bit for bit.
#pragma once

#include "backends/reference/kernel_util.h"
#include "backends/reference/scalar_ops.h"

namespace kiln::ref {

class EpilogueRunner {
 public:
  /// Reads the epilogue of the layer; `out` is the output dims. Call at reshape.
  template <class Attrs>
  Status prepare(const LayerDesc& desc, const std::vector<TensorDesc>& in, const Dims& out,
                 const Attrs& a) {
    activation_ = a.activation;
    alpha_ = a.activationAlpha;
    beta_ = a.activationBeta;
    residual_ = a.residual;
    out_ = out;
    if (residual_ != ResidualMode::kNone) {
      if (in.size() < 4 || !desc.hasInput(3) || !broadcastsTo(in[3].dims, out))
        return layerError(desc,
                          "the residual input must broadcast to the output " + dimsToString(out));
      strides_ = {contiguousStrides(out), broadcastStrides(in[3].dims, out)};
    }
    return Status::ok();
  }

  bool active() const {
    return activation_ != ActivationKind::kNone || residual_ != ResidualMode::kNone;
  }

  /// y = act(y [+ r]) [+ r], in place.
  template <class T>
  void apply(T* y, const T* r) const {
    if (!active()) return;
    const bool before = residual_ == ResidualMode::kBeforeActivation;
    const bool after = residual_ == ResidualMode::kAfterActivation;
    const bool act = activation_ != ActivationKind::kNone;
    auto step = [&](T& v, T rv) {
      if (before) v = static_cast<T>(v + rv);
      if (act) v = static_cast<T>(activate(activation_, static_cast<double>(v), alpha_, beta_));
      if (after) v = static_cast<T>(v + rv);
    };
    if (residual_ == ResidualMode::kNone) {
      const int64_t n = volume(out_);
      for (int64_t i = 0; i < n; ++i)
        step(y[i], T(0));
      return;
    }
    forEachRow<2>(out_, strides_, [&](const auto& off, int64_t len, const auto& st) {
      for (int64_t i = 0; i < len; ++i)
        step(y[off[0] + i * st[0]], r[off[1] + i * st[1]]);
    });
  }

 private:
  ActivationKind activation_ = ActivationKind::kNone;
  double alpha_ = 0, beta_ = 0;
  ResidualMode residual_ = ResidualMode::kNone;
  Dims out_;
  std::array<Strides, 2> strides_;
};

/// supports() checks of an epilogue: the residual's dtype, and a float type for activations.
template <class Attrs>
Status supportsEpilogue(const LayerDesc& desc, const Attrs& a, DataType t) {
  if (a.residual != ResidualMode::kNone) {
    if (!desc.hasInput(3)) return layerError(desc, "residual input 3 is absent");
    KILN_RETURN_IF_ERROR(requireInputType(desc, 3, {t}));
  }
  return Status::ok();
}

}  // namespace kiln::ref
