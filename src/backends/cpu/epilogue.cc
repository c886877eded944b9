// kiln — the cpu backend's epilogue pass (epilogue.h).
#include "backends/cpu/epilogue.h"

#include <algorithm>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernels_avx2.h"
#include "backends/cpu/parallel.h"

namespace kiln::cpu {

EpilogueSpec epilogueSpec(const Layer& layer) {
  EpilogueSpec e;
  auto read = [&](const auto& a) {
    e.activation = a.activation;
    e.alpha = a.activationAlpha;
    e.beta = a.activationBeta;
    e.residual = a.residual;
  };
  if (layer.kind() == LayerKind::kConvolution) read(layer.as<ConvolutionAttrs>());
  if (layer.kind() == LayerKind::kMatrixMultiply) read(layer.as<MatrixMultiplyAttrs>());
  return e;
}

Status supportsEpilogue(const LayerDesc& desc) {
  const EpilogueSpec e = epilogueSpec(*desc.layer);
  if (!e.any()) return Status::ok();
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  if (e.activation != ActivationKind::kNone && !avx2::hasActivation(e.activation))
    return decline(
        desc, std::string("no AVX2 kernel for the epilogue activation ") + enumName(e.activation));
  if (desc.outputs.empty() || desc.outputs[0].dtype != DataType::kFloat32)
    return decline(desc, "an epilogue on a non-f32 output");
  if (e.residual != ResidualMode::kNone) {
    if (!desc.hasInput(3)) return decline(desc, "a residual epilogue without its input 3");
    if (desc.inputs[3].dtype != DataType::kFloat32) return decline(desc, "a non-f32 residual");
  }
  return Status::ok();
}

namespace {

constexpr int64_t kChunk = 4096;

/// Element strides that read r broadcast to y (0 along broadcast dims), or an error.
Expected<Dims> residualStrides(const LayerDesc& desc, const Dims& r, const Dims& y) {
  if (r.size() > y.size())
    return layerError(desc, "residual " + dimsToString(r) + " has more dims than the output");
  Dims s(y.size(), 0);
  int64_t acc = 1;
  const size_t lead = y.size() - r.size();
  for (size_t i = r.size(); i-- > 0;) {
    if (r[i] != y[lead + i] && r[i] != 1)
      return layerError(desc, "residual " + dimsToString(r) + " does not broadcast to the output " +
                                  dimsToString(y));
    s[lead + i] = (r[i] == 1 && y[lead + i] != 1) ? 0 : acc;
    acc *= r[i];
  }
  return s;
}

}  // namespace

Status applyEpilogue(const LayerDesc& desc, const EpilogueSpec& e, float* y, const Dims& yDims,
                     const float* r, const Dims& rDims, int threads) {
  const int64_t n = volume(yDims);
  if (n == 0 || !e.any()) return Status::ok();
  const bool act = e.activation != ActivationKind::kNone;
  if (e.residual == ResidualMode::kNone) {
    parallelFor(threads, n, kChunk, [&](int64_t lo, int64_t hi) {
      avx2::activation(e.activation, e.alpha, e.beta, y + lo, y + lo, hi - lo);
    });
    return Status::ok();
  }
  if (r == nullptr) return layerError(desc, "the residual input is not bound");
  KILN_ASSIGN_OR_RETURN(Dims rs, residualStrides(desc, rDims, yDims));
  // Rows along the output's last dim: the residual is contiguous (stride 1) or one value
  // (stride 0) along it.
  const int64_t len = yDims.empty() ? 1 : yDims.back();
  const int64_t rows = len == 0 ? 0 : n / len;
  const int64_t step = yDims.empty() ? 0 : rs.back();
  const bool before = e.residual == ResidualMode::kBeforeActivation;
  const size_t outer = yDims.empty() ? 0 : yDims.size() - 1;  // dims outside the row
  parallelFor(threads, rows, std::max<int64_t>(1, kChunk / std::max<int64_t>(len, 1)),
              [&](int64_t lo, int64_t hi) {
                for (int64_t row = lo; row < hi; ++row) {
                  int64_t off = 0, rem = row;
                  for (size_t i = outer; i-- > 0;) {
                    off += (rem % yDims[i]) * rs[i];
                    rem /= yDims[i];
                  }
                  float* yr = y + row * len;
                  if (!before && act) avx2::activation(e.activation, e.alpha, e.beta, yr, yr, len);
                  avx2::binary(ElementwiseKind::kAdd, yr, 1, r + off, step, yr, len);
                  if (before && act) avx2::activation(e.activation, e.alpha, e.beta, yr, yr, len);
                }
              });
  return Status::ok();
}

}  // namespace kiln::cpu
