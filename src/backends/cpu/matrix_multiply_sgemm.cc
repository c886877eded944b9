// kiln — cpu MatrixMultiply through oneDNN's sgemm (cpu.matrix_multiply.sgemm.f32):
// y = alpha * op(A) @ op(B) + beta * C for every batch entry, with numpy broadcasting of the
// batch dims, MatMul's 1-D promotion and Gemm's transposes. C (any shape that broadcasts to y)
// is first copied into y, then the GEMM accumulates onto it. When every batch entry uses the
// same B and A is a plain row-major stack, the batch folds into M and one GEMM runs.
//
// The builder times this tactic against cpu.matrix_multiply.onednn.f32 (the matmul primitive,
// which takes fused post-ops): on AVX2 machines oneDNN 3.2's matmul primitive is several times
// slower than its sgemm for large M x K x N.
#include <algorithm>
#include <cstring>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/onednn.h"
#include "backends/cpu/parallel.h"

namespace kiln::cpu {
namespace {

/// Element strides reading `in` broadcast (numpy rules) to `out`.
Dims broadcastStridesOf(const Dims& in, const Dims& out) {
  Dims s(out.size(), 0);
  const size_t lead = out.size() - in.size();
  int64_t acc = 1;
  for (size_t i = in.size(); i-- > 0;) {
    s[lead + i] = (in[i] == 1 && out[lead + i] != 1) ? 0 : acc;
    acc *= in[i];
  }
  return s;
}

class SgemmKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override {
    const auto& at = attrs<MatrixMultiplyAttrs>();
    const Dims& a = in_[0].dims;
    const Dims& b = in_[1].dims;
    const Dims& y = out_[0].dims;
    const std::string shapes =
        "A" + dimsToString(a) + ", B" + dimsToString(b) + ", y" + dimsToString(y);
    if (a.empty() || b.empty()) return layerError(desc_, "A and B must not be scalars");
    const bool a1 = a.size() == 1, b1 = b.size() == 1;
    transA_ = at.transA && !a1;
    transB_ = at.transB && !b1;
    const size_t ra = a.size(), rb = b.size();
    m_ = a1 ? 1 : (transA_ ? a[ra - 1] : a[ra - 2]);
    k_ = a1 ? a[0] : (transA_ ? a[ra - 2] : a[ra - 1]);
    const int64_t kb = b1 ? b[0] : (transB_ ? b[rb - 1] : b[rb - 2]);
    n_ = b1 ? 1 : (transB_ ? b[rb - 2] : b[rb - 1]);
    if (kb != k_) return layerError(desc_, "inner dims differ (" + shapes + ")");
    const size_t matRank = (a1 ? 0 : 1) + (b1 ? 0 : 1);
    if (y.size() < matRank) return layerError(desc_, "output rank too small (" + shapes + ")");
    const size_t batchRank = y.size() - matRank;
    const Dims batch(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(batchRank));
    const Dims aBatch = a1 ? Dims{} : Dims(a.begin(), a.end() - 2);
    const Dims bBatch = b1 ? Dims{} : Dims(b.begin(), b.end() - 2);
    if (aBatch.size() > batchRank || bBatch.size() > batchRank)
      return layerError(desc_, "batch dims do not broadcast (" + shapes + ")");
    Dims aS = broadcastStridesOf(aBatch, batch), bS = broadcastStridesOf(bBatch, batch);
    aOff_.clear();
    bOff_.clear();
    int64_t entries = 1;
    for (int64_t d : batch)
      entries *= d;
    std::vector<int64_t> idx(batchRank, 0);
    bool bShared = true, aDense = !transA_;
    for (int64_t e = 0; e < entries; ++e) {
      int64_t ao = 0, bo = 0;
      for (size_t d = 0; d < batchRank; ++d) {
        ao += idx[d] * aS[d];
        bo += idx[d] * bS[d];
      }
      aOff_.push_back(ao * m_ * k_);
      bOff_.push_back(bo * k_ * n_);
      bShared = bShared && bo == 0;
      aDense = aDense && ao == e;
      for (size_t d = batchRank; d-- > 0;) {
        if (++idx[d] < batch[d]) break;
        idx[d] = 0;
      }
    }
    folded_ = entries > 1 && bShared && aDense;
    // C: copied into y through broadcast strides (as rows of y's last dim).
    hasC_ = desc_.hasInput(2);
    if (hasC_) {
      // y dims with the promoted dims restored, so that C broadcasts against [.., M, N].
      Dims full = batch;
      full.push_back(m_);
      full.push_back(n_);
      Dims c = in_[2].dims;
      if (c.size() > full.size()) {
        while (c.size() > full.size() && c.front() == 1)
          c.erase(c.begin());
        if (c.size() > full.size()) return layerError(desc_, "C has more dims than y");
      }
      // Gemm's C (MatMul has none): y has no promoted dims then.
      if (a1 || b1) return decline(desc_, "C with a 1-D A or B");
      Dims cAligned(full.size() - c.size(), 1);
      cAligned.insert(cAligned.end(), c.begin(), c.end());
      for (size_t i = 0; i < full.size(); ++i)
        if (cAligned[i] != 1 && cAligned[i] != full[i])
          return layerError(desc_, "C" + dimsToString(in_[2].dims) + " does not broadcast to y");
      cStrides_ = broadcastStridesOf(cAligned, full);
      cFull_ = full;
    }
    double macs = static_cast<double>(entries) * static_cast<double>(m_) * static_cast<double>(n_) *
                  static_cast<double>(k_);
    runThreads_ = threadsFor(threads_, macs, kMacsPerThread);
    return Status::ok();
  }

  /// y = C broadcast (row by row).
  void fillC(float* y) const {
    const float* c = in<float>(2);
    const size_t rank = cFull_.size();
    const int64_t rows = volume(cFull_) / std::max<int64_t>(n_, 1);
    const int64_t step = cStrides_[rank - 1];
    parallelFor(runThreads_, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n_, 1)),
                [&](int64_t lo, int64_t hi) {
                  for (int64_t r = lo; r < hi; ++r) {
                    int64_t off = 0, rem = r;
                    for (size_t d = rank - 1; d-- > 0;) {
                      off += (rem % cFull_[d]) * cStrides_[d];
                      rem /= cFull_[d];
                    }
                    float* yr = y + r * n_;
                    if (step == 0)
                      std::fill(yr, yr + n_, c[off]);
                    else
                      std::memcpy(yr, c + off, static_cast<size_t>(n_) * sizeof(float));
                  }
                });
  }

  /// Rows [r0, r0 + rows) and columns [c0, c0 + cols) of one GEMM of `m` rows.
  Status gemmBlock(const float* a, const float* b, float* y, int64_t m, float beta, int64_t r0,
                   int64_t rows, int64_t c0, int64_t cols) const {
    const auto& at = attrs<MatrixMultiplyAttrs>();
    const int64_t lda = transA_ ? m : k_, ldb = transB_ ? k_ : n_;
    const float* ab = a + (transA_ ? r0 : r0 * lda);
    const float* bb = b + (transB_ ? c0 * ldb : c0);
    if (dnnl::sgemm(transA_ ? 'T' : 'N', transB_ ? 'T' : 'N', rows, cols, k_, at.alpha, ab, lda, bb,
                    ldb, beta, y + r0 * n_ + c0, n_) != dnnl::status::success)
      return internalError("layer '" + desc_.name() + "': oneDNN sgemm failed");
    return Status::ok();
  }

  Status gemm(const float* a, const float* b, float* y, int64_t m, float beta) const {
    return gemmBlock(a, b, y, m, beta, 0, m, 0, n_);
  }

  /// One GEMM split over the pool: along M in blocks of whole rows, or along N when M is short.
  Status gemmParallel(const float* a, const float* b, float* y, int64_t m, float beta) const {
    const double macs = static_cast<double>(m) * static_cast<double>(n_) * static_cast<double>(k_);
    const int t = threadsFor(runThreads_, macs, kMacsPerThread);
    if (t <= 1) return gemm(a, b, y, m, beta);
    const bool byRows = m >= n_ || m >= 64 * t;
    const int64_t extent = byRows ? m : n_;
    const int64_t align = byRows ? 8 : 16;
    const int64_t chunks = std::min<int64_t>(2 * t, (extent + align - 1) / align);
    const int64_t step = ((extent + chunks - 1) / chunks + align - 1) / align * align;
    std::vector<Status> status(static_cast<size_t>(chunks));
    runChunks(t, chunks, [&](int64_t c) {
      const int64_t lo = c * step, hi = std::min(extent, lo + step);
      if (lo >= hi) return;
      status[static_cast<size_t>(c)] = byRows ? gemmBlock(a, b, y, m, beta, lo, hi - lo, 0, n_)
                                              : gemmBlock(a, b, y, m, beta, 0, m, lo, hi - lo);
    });
    for (const Status& s : status)
      KILN_RETURN_IF_ERROR(s);
    return Status::ok();
  }

  Status compute() override {
    useOneDnnThreadCount();
    const float* a = in<float>(0);
    const float* b = in<float>(1);
    float* y = out<float>(0);
    const float beta = hasC_ ? attrs<MatrixMultiplyAttrs>().beta : 0.0f;
    if (hasC_) fillC(y);
    const int64_t entries = static_cast<int64_t>(aOff_.size());
    if (folded_ || entries == 1) return gemmParallel(a, b, y, m_ * (folded_ ? entries : 1), beta);
    const int64_t mn = m_ * n_;
    const double perEntry = static_cast<double>(m_) * n_ * k_;
    if (runThreads_ > 1 && perEntry < kMacsPerThread * runThreads_) {
      // Many small GEMMs (attention heads): whole entries per chunk.
      std::vector<Status> status(static_cast<size_t>(entries));
      parallelFor(runThreads_, entries, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t e = lo; e < hi; ++e)
          status[static_cast<size_t>(e)] = gemm(a + aOff_[e], b + bOff_[e], y + e * mn, m_, beta);
      });
      for (const Status& s : status)
        KILN_RETURN_IF_ERROR(s);
      return Status::ok();
    }
    for (int64_t e = 0; e < entries; ++e)
      KILN_RETURN_IF_ERROR(gemmParallel(a + aOff_[e], b + bOff_[e], y + e * mn, m_, beta));
    return Status::ok();
  }

  bool transA_ = false, transB_ = false, hasC_ = false, folded_ = false;
  int64_t m_ = 0, n_ = 0, k_ = 0;
  int runThreads_ = 1;
  std::vector<int64_t> aOff_, bOff_;  ///< element offsets per batch entry
  Dims cStrides_, cFull_;             ///< C's broadcast strides over [batch.., M, N]
};

}  // namespace

Status supportsSgemmMatMul(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAllF32(desc));
  if (!desc.hasInput(0) || !desc.hasInput(1)) return decline(desc, "A and B are required");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createSgemmMatMul(const LayerDesc& desc) {
  return makeKernel<SgemmKernel>(desc);
}

}  // namespace kiln::cpu
