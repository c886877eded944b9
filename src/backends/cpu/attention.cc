// kiln — cpu Attention on f32 through the AVX2 row kernel:
//   cpu.attention.f32.avx2  every layout (heads_first, merged, packed), additive f32 mask
//                           broadcast to [B, H, Sq, Sk], causal, zero_nan_probabilities
// One query row is one unit of work: its logits against the visible keys (all of them, or the
// causal prefix), softmax, and the probability-weighted sum of the values, accumulated in f32.
// Rows are split over the threads; each chunk of rows has its own logits scratch.
#include <algorithm>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernels_avx2.h"
#include "backends/cpu/parallel.h"

namespace kiln::cpu {
namespace {

/// Where row s of head h of batch b of one operand starts: base + b*sb + h*sh + s*ss.
struct Layout {
  int64_t base = 0, sb = 0, sh = 0, ss = 0;
  int64_t at(int64_t b, int64_t h, int64_t s) const { return base + b * sb + h * sh + s * ss; }
};

/// Multiply-adds per thread below which the rows are not split.
constexpr double kGrainMacs = 1 << 17;

class AttentionKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override {
    const auto& a = attrs<AttentionAttrs>();
    const Dims& q = in_[0].dims;
    switch (a.layout) {
      case AttentionLayout::kHeadsFirst: {
        if (q.size() != 4 || in_[1].dims.size() != 4 || in_[2].dims.size() != 4)
          return decline(desc_, "heads_first q, k and v must be 4-D");
        const Dims& k = in_[1].dims;
        const Dims& v = in_[2].dims;
        b_ = q[0], h_ = q[1], sq_ = q[2], d_ = q[3], sk_ = k[2], dv_ = v[3];
        lq_ = {0, h_ * sq_ * d_, sq_ * d_, d_};
        lk_ = {0, h_ * sk_ * d_, sk_ * d_, d_};
        lv_ = {0, h_ * sk_ * dv_, sk_ * dv_, dv_};
        lo_ = {0, h_ * sq_ * dv_, sq_ * dv_, dv_};
        break;
      }
      case AttentionLayout::kMerged: {
        if (q.size() != 3 || in_[1].dims.size() != 3 || in_[2].dims.size() != 3)
          return decline(desc_, "merged q, k and v must be 3-D");
        h_ = a.numHeads;
        if (h_ <= 0) return decline(desc_, "num_heads must be positive");
        b_ = q[0], sq_ = q[1], d_ = q[2] / h_, sk_ = in_[1].dims[1], dv_ = in_[2].dims[2] / h_;
        lq_ = {0, sq_ * h_ * d_, d_, h_ * d_};
        lk_ = {0, sk_ * h_ * d_, d_, h_ * d_};
        lv_ = {0, sk_ * h_ * dv_, dv_, h_ * dv_};
        lo_ = {0, sq_ * h_ * dv_, dv_, h_ * dv_};
        break;
      }
      case AttentionLayout::kPacked: {
        if (q.size() != 3) return decline(desc_, "packed qkv must be 3-D");
        h_ = a.numHeads;
        if (h_ <= 0) return decline(desc_, "num_heads must be positive");
        b_ = q[0], sq_ = sk_ = q[1], d_ = dv_ = q[2] / (3 * h_);
        const int64_t row = 3 * h_ * d_;
        lq_ = {0, sq_ * row, d_, row};
        lk_ = {h_ * d_, sq_ * row, d_, row};
        lv_ = {2 * h_ * d_, sq_ * row, d_, row};
        lo_ = {0, sq_ * h_ * d_, d_, h_ * d_};
        break;
      }
    }
    // Every operand must hold what the layout reads (never read past a buffer).
    bool ok = true;
    switch (a.layout) {
      case AttentionLayout::kHeadsFirst:
        ok = in_[1].dims == Dims{b_, h_, sk_, d_} && in_[2].dims == Dims{b_, h_, sk_, dv_} &&
             out_[0].dims == Dims{b_, h_, sq_, dv_};
        break;
      case AttentionLayout::kMerged:
        ok = q[2] == h_ * d_ && in_[1].dims == Dims{b_, sk_, h_ * d_} &&
             in_[2].dims == Dims{b_, sk_, h_ * dv_} && out_[0].dims == Dims{b_, sq_, h_ * dv_};
        break;
      case AttentionLayout::kPacked:
        ok = q[2] == 3 * h_ * d_ && out_[0].dims == Dims{b_, sq_, h_ * dv_};
        break;
    }
    if (!ok) return layerError(desc_, "q, k, v and output dims do not fit the layout");
    const Dims full{b_, h_, sq_, sk_};
    hasMask_ = desc_.hasInput(3);
    maskStrides_.assign(4, 0);
    if (hasMask_) {
      const Dims& m = in_[3].dims;
      if (m.size() > 4)
        return layerError(desc_, "mask " + dimsToString(m) + " has more than 4 dims");
      // numpy broadcasting, right-aligned: stride 0 along dims of size 1 that the full shape
      // repeats.
      int64_t acc = 1;
      for (size_t i = m.size(); i-- > 0;) {
        const size_t f = 4 - m.size() + i;
        if (m[i] != full[f] && m[i] != 1)
          return layerError(
              desc_, "mask " + dimsToString(m) + " does not broadcast to " + dimsToString(full));
        maskStrides_[f] = (m[i] == 1 && full[f] != 1) ? 0 : acc;
        acc *= m[i];
      }
    }
    return Status::ok();
  }

  Status compute() override {
    const auto& a = attrs<AttentionAttrs>();
    const bool packed = a.layout == AttentionLayout::kPacked;
    const float* q = in<float>(0);
    const float* k = packed ? q : in<float>(1);
    const float* v = packed ? q : in<float>(2);
    const float* mask = hasMask_ ? in<float>(3) : nullptr;
    float* y = out<float>(0);
    const int64_t rows = b_ * h_ * sq_;
    const double macsPerRow = static_cast<double>(std::max<int64_t>(sk_, 1)) * (d_ + dv_);
    const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kGrainMacs / macsPerRow));
    parallelFor(threads_, rows, grain, [&](int64_t lo, int64_t hi) {
      std::vector<float> logits(static_cast<size_t>(std::max<int64_t>(sk_, 1)));
      avx2::AttentionRow r;
      r.kStride = lk_.ss;
      r.vStride = lv_.ss;
      r.d = d_;
      r.dv = dv_;
      r.maskStep = maskStrides_[3];
      r.scale = a.scale;
      r.zeroNan = a.zeroNanProbabilities;
      for (int64_t row = lo; row < hi; ++row) {
        const int64_t i = row % sq_, bh = row / sq_, h = bh % h_, b = bh / h_;
        r.k = k + lk_.at(b, h, 0);
        r.v = v + lv_.at(b, h, 0);
        // Causal: key j is visible for query i when j <= i + Sk - Sq.
        r.keys = a.causal ? std::clamp<int64_t>(i + sk_ - sq_ + 1, 0, sk_) : sk_;
        const float* m =
            mask ? mask + b * maskStrides_[0] + h * maskStrides_[1] + i * maskStrides_[2] : nullptr;
        avx2::attentionRow(r, q + lq_.at(b, h, i), m, logits.data(), y + lo_.at(b, h, i));
      }
    });
    return Status::ok();
  }

  int64_t b_ = 0, h_ = 0, sq_ = 0, sk_ = 0, d_ = 0, dv_ = 0;
  Layout lq_, lk_, lv_, lo_;
  bool hasMask_ = false;
  std::vector<int64_t> maskStrides_;
};

}  // namespace

Status supportsAvx2Attention(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  if (!desc.hasInput(0) || desc.outputs.size() != 1) return decline(desc, "needs q and one output");
  const bool packed = desc.layer->as<AttentionAttrs>().layout == AttentionLayout::kPacked;
  if (!packed && (!desc.hasInput(1) || !desc.hasInput(2)))
    return decline(desc, "k and v are required outside the packed layout");
  return requireAllF32(desc);
}

Expected<std::unique_ptr<Kernel>> createAvx2Attention(const LayerDesc& desc) {
  return makeKernel<AttentionKernel>(desc);
}

}  // namespace kiln::cpu
