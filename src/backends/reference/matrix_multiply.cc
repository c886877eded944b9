// kiln — reference MatrixMultiply: y = alpha * op(A) @ op(B) + beta * C, with numpy batch
// broadcasting, ONNX MatMul's 1-D promotion (a 1-D A is a row, a 1-D B a column, and the
// promoted dim is dropped from y), Gemm's transposes, and C broadcast to y. f32 and f64;
// dot products accumulate in double.
#include <algorithm>

#include "backends/reference/epilogue.h"
#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

using ref::Strides;

class MatrixMultiplyKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const auto& at = attrs<MatrixMultiplyAttrs>();
    const Dims& a = in_[0].dims;
    const Dims& b = in_[1].dims;
    const Dims& y = out_[0].dims;
    const std::string shapes =
        "A" + dimsToString(a) + ", B" + dimsToString(b) + ", y" + dimsToString(y);
    if (a.empty() || b.empty())
      return layerError(desc_, "A and B must not be scalars (" + shapes + ")");
    a1_ = a.size() == 1;
    b1_ = b.size() == 1;
    const size_t ra = a.size(), rb = b.size();
    m_ = a1_ ? 1 : (at.transA ? a[ra - 1] : a[ra - 2]);
    k_ = a1_ ? a[0] : (at.transA ? a[ra - 2] : a[ra - 1]);
    const int64_t kb = b1_ ? b[0] : (at.transB ? b[rb - 1] : b[rb - 2]);
    n_ = b1_ ? 1 : (at.transB ? b[rb - 2] : b[rb - 1]);
    if (kb != k_) return layerError(desc_, "inner dims differ (" + shapes + ")");
    const size_t matRank = (a1_ ? 0 : 1) + (b1_ ? 0 : 1);
    if (y.size() < matRank) return layerError(desc_, "output rank too small (" + shapes + ")");
    const size_t batchRank = y.size() - matRank;
    if ((!a1_ && y[batchRank] != m_) || (!b1_ && y.back() != n_))
      return layerError(desc_, "output dims do not match M, N (" + shapes + ")");
    const Dims batch(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(batchRank));
    const Dims aBatch = a1_ ? Dims{} : Dims(a.begin(), a.end() - 2);
    const Dims bBatch = b1_ ? Dims{} : Dims(b.begin(), b.end() - 2);
    if (!ref::broadcastsTo(aBatch, batch) || !ref::broadcastsTo(bBatch, batch))
      return layerError(desc_, "batch dims do not broadcast (" + shapes + ")");

    // Batch strides of A and B count whole matrices; C's are element strides over y's dims.
    Strides aS = ref::broadcastStrides(aBatch, batch), bS = ref::broadcastStrides(bBatch, batch);
    for (auto& s : aS)
      s *= m_ * k_;
    for (auto& s : bS)
      s *= k_ * n_;
    Strides cS(batchRank, 0);
    ci_ = cj_ = 0;
    hasC_ = desc_.hasInput(2);
    if (hasC_) {
      if (!ref::broadcastsTo(in_[2].dims, y))
        return layerError(
            desc_, "C" + dimsToString(in_[2].dims) + " does not broadcast to y" + dimsToString(y));
      const Strides full = ref::broadcastStrides(in_[2].dims, y);
      std::copy(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(batchRank), cS.begin());
      if (!a1_) ci_ = full[batchRank];
      if (!b1_) cj_ = full.back();
    }
    aOff_.clear();
    bOff_.clear();
    cOff_.clear();
    ref::forEachRow<3>(batch, {aS, bS, cS}, [&](const auto& off, int64_t len, const auto& st) {
      for (int64_t i = 0; i < len; ++i) {
        aOff_.push_back(off[0] + i * st[0]);
        bOff_.push_back(off[1] + i * st[1]);
        cOff_.push_back(off[2] + i * st[2]);
      }
    });
    acc_.assign(static_cast<size_t>(n_), 0.0);
    return epilogue_.prepare(desc_, in_, y, at);
  }

  template <class T>
  Status run() {
    const auto& at = attrs<MatrixMultiplyAttrs>();
    const bool transA = at.transA && !a1_, transB = at.transB && !b1_;
    const double alpha = at.alpha, beta = at.beta;
    const int64_t m = m_, n = n_, k = k_;
    const T* c = hasC_ ? in<T>(2) : nullptr;
    T* y = out<T>(0);
    double* acc = acc_.data();
    for (size_t bt = 0; bt < aOff_.size(); ++bt) {
      const T* a = in<T>(0) + aOff_[bt];
      const T* b = in<T>(1) + bOff_[bt];
      T* yb = y + static_cast<int64_t>(bt) * m * n;
      for (int64_t i = 0; i < m; ++i) {
        if (!transB) {  // i-k-j: the inner loop walks a row of B and of the accumulator
          std::fill(acc, acc + n, 0.0);
          for (int64_t p = 0; p < k; ++p) {
            const double av = static_cast<double>(transA ? a[p * m + i] : a[i * k + p]);
            const T* br = b + p * n;
            for (int64_t j = 0; j < n; ++j)
              acc[j] += av * static_cast<double>(br[j]);
          }
        } else {  // B is [N, K]: each output is a dot product of two rows
          for (int64_t j = 0; j < n; ++j) {
            const T* br = b + j * k;
            double s = 0;
            for (int64_t p = 0; p < k; ++p)
              s += static_cast<double>(transA ? a[p * m + i] : a[i * k + p]) *
                   static_cast<double>(br[p]);
            acc[j] = s;
          }
        }
        T* yr = yb + i * n;
        for (int64_t j = 0; j < n; ++j) {
          double v = alpha * acc[j];
          if (c) v += beta * static_cast<double>(c[cOff_[bt] + i * ci_ + j * cj_]);
          yr[j] = static_cast<T>(v);
        }
      }
    }
    epilogue_.apply<T>(y, desc_.hasInput(3) ? in<T>(3) : nullptr);
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  bool a1_ = false, b1_ = false, hasC_ = false;
  int64_t m_ = 0, n_ = 0, k_ = 0, ci_ = 0, cj_ = 0;
  std::vector<int64_t> aOff_, bOff_, cOff_;  ///< per batch entry
  std::vector<double> acc_;                  ///< one output row
  ref::EpilogueRunner epilogue_;
};

}  // namespace

Status supportsReferenceMatrixMultiply(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, {DataType::kFloat32, DataType::kFloat64}));
  const DataType t = desc.inputs[0].dtype;
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 1, {t}));
  if (desc.hasInput(2)) KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 2, {t}));
  KILN_RETURN_IF_ERROR(ref::supportsEpilogue(desc, desc.layer->as<MatrixMultiplyAttrs>(), t));
  return ref::requireOutputType(desc, 0, {t});
}

Expected<std::unique_ptr<Kernel>> createReferenceMatrixMultiply(const LayerDesc& desc) {
  return ref::makeKernel<MatrixMultiplyKernel>(desc);
}

}  // namespace kiln
