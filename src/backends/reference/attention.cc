// kiln — reference Attention: per batch and head, logits = scale * q k^T + mask (+ causal
// -inf above the shifted diagonal), softmax, then the probabilities times v. Logits, softmax
// and the final products are computed in double and rounded once, so this oracle is at least
// as accurate as the unfused MatMul / Softmax / MatMul chain (which rounds between steps).
#include <cmath>
#include <limits>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

/// Where element (b, h, s, d) of one operand lives: base + b*sb + h*sh + s*ss + d.
struct Layout {
  int64_t base = 0, sb = 0, sh = 0, ss = 0;
  int64_t at(int64_t b, int64_t h, int64_t s) const { return base + b * sb + h * sh + s * ss; }
};

class AttentionKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const auto& a = attrs<AttentionAttrs>();
    const Dims& q = in_[0].dims;
    switch (a.layout) {
      case AttentionLayout::kHeadsFirst: {
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
        h_ = a.numHeads;
        b_ = q[0], sq_ = q[1], d_ = q[2] / h_, sk_ = in_[1].dims[1], dv_ = in_[2].dims[2] / h_;
        lq_ = {0, sq_ * h_ * d_, d_, h_ * d_};
        lk_ = {0, sk_ * h_ * d_, d_, h_ * d_};
        lv_ = {0, sk_ * h_ * dv_, dv_, h_ * dv_};
        lo_ = {0, sq_ * h_ * dv_, dv_, h_ * dv_};
        break;
      }
      case AttentionLayout::kPacked: {
        h_ = a.numHeads;
        b_ = q[0], sq_ = sk_ = q[1], d_ = dv_ = q[2] / (3 * h_);
        const int64_t row = 3 * h_ * d_;
        lq_ = {0, sq_ * row, d_, row};
        lk_ = {h_ * d_, sq_ * row, d_, row};
        lv_ = {2 * h_ * d_, sq_ * row, d_, row};
        lo_ = {0, sq_ * h_ * d_, d_, h_ * d_};
        break;
      }
    }
    hasMask_ = desc_.hasInput(3);
    if (hasMask_) {
      const Dims full{b_, h_, sq_, sk_};
      if (!ref::broadcastsTo(in_[3].dims, full))
        return layerError(desc_, "mask " + dimsToString(in_[3].dims) + " does not broadcast to " +
                                     dimsToString(full));
      maskStrides_ = ref::broadcastStrides(in_[3].dims, full);
    }
    logits_.assign(static_cast<size_t>(sk_), 0.0);
    acc_.assign(static_cast<size_t>(dv_), 0.0);
    return Status::ok();
  }

  template <class T>
  Status run() {
    const auto& a = attrs<AttentionAttrs>();
    const T* q = in<T>(0);
    const T* k = a.layout == AttentionLayout::kPacked ? q : in<T>(1);
    const T* v = a.layout == AttentionLayout::kPacked ? q : in<T>(2);
    const T* mask = hasMask_ ? in<T>(3) : nullptr;
    T* y = out<T>(0);
    const double scale = a.scale;
    constexpr double kInf = std::numeric_limits<double>::infinity();
    for (int64_t b = 0; b < b_; ++b) {
      for (int64_t h = 0; h < h_; ++h) {
        for (int64_t i = 0; i < sq_; ++i) {
          const T* qi = q + lq_.at(b, h, i);
          double mx = -kInf;
          for (int64_t j = 0; j < sk_; ++j) {
            double l;
            if (a.causal && j > i + sk_ - sq_) {
              l = -kInf;
            } else {
              const T* kj = k + lk_.at(b, h, j);
              double dot = 0;
              for (int64_t d = 0; d < d_; ++d)
                dot += static_cast<double>(qi[d]) * static_cast<double>(kj[d]);
              l = scale * dot;
              if (mask)
                l += static_cast<double>(mask[b * maskStrides_[0] + h * maskStrides_[1] +
                                              i * maskStrides_[2] + j * maskStrides_[3]]);
            }
            logits_[static_cast<size_t>(j)] = l;
            mx = std::max(mx, l);
          }
          double sum = 0;
          for (int64_t j = 0; j < sk_; ++j) {
            double e = std::exp(logits_[static_cast<size_t>(j)] - mx);
            logits_[static_cast<size_t>(j)] = e;
            sum += e;
          }
          std::fill(acc_.begin(), acc_.end(), 0.0);
          for (int64_t j = 0; j < sk_; ++j) {
            double p = logits_[static_cast<size_t>(j)] / sum;
            if (a.zeroNanProbabilities && std::isnan(p)) p = 0;
            const T* vj = v + lv_.at(b, h, j);
            for (int64_t d = 0; d < dv_; ++d)
              acc_[static_cast<size_t>(d)] += p * static_cast<double>(vj[d]);
          }
          T* yi = y + lo_.at(b, h, i);
          for (int64_t d = 0; d < dv_; ++d)
            yi[d] = static_cast<T>(acc_[static_cast<size_t>(d)]);
        }
      }
    }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  int64_t b_ = 0, h_ = 0, sq_ = 0, sk_ = 0, d_ = 0, dv_ = 0;
  Layout lq_, lk_, lv_, lo_;
  bool hasMask_ = false;
  ref::Strides maskStrides_;
  std::vector<double> logits_, acc_;
};

}  // namespace

Status supportsReferenceAttention(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, {DataType::kFloat32, DataType::kFloat64}));
  const DataType t = desc.inputs[0].dtype;
  for (size_t k = 1; k < desc.inputs.size(); ++k)
    if (desc.hasInput(k)) KILN_RETURN_IF_ERROR(ref::requireInputType(desc, k, {t}));
  return ref::requireOutputType(desc, 0, {t});
}

Expected<std::unique_ptr<Kernel>> createReferenceAttention(const LayerDesc& desc) {
  return ref::makeKernel<AttentionKernel>(desc);
}

}  // namespace kiln
