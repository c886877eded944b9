// kiln — reference Softmax (and log-softmax, hardmax) along one axis, and layer normalization.
//
// Both compute their statistics in double: softmax subtracts the max before exp; layer norm
// takes mean and variance over dims [axis, rank) in two passes. f32 and f64.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

// ---- Softmax -----------------------------------------------------------------------------

class SoftmaxKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    if (x.empty()) return layerError(desc_, "softmax needs an input of rank >= 1");
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc_, attrs<SoftmaxAttrs>().axis,
                                                      static_cast<int64_t>(x.size())));
    split_ = ref::splitAt(x, axis);
    return Status::ok();
  }

  template <class T>
  Status run() {
    const bool log = attrs<SoftmaxAttrs>().log;
    const bool hard = attrs<SoftmaxAttrs>().hard;
    const auto [outer, n, inner] = split_;
    const T* x = in<T>(0);
    T* y = out<T>(0);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < inner; ++j) {
        const T* xs = x + o * n * inner + j;
        T* ys = y + o * n * inner + j;
        if (hard) {
          // 1 at the first maximum, 0 elsewhere.
          int64_t best = 0;
          for (int64_t k = 1; k < n; ++k)
            if (xs[k * inner] > xs[best * inner]) best = k;
          for (int64_t k = 0; k < n; ++k)
            ys[k * inner] = static_cast<T>(k == best ? 1 : 0);
          continue;
        }
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < n; ++k)
          mx = std::max(mx, static_cast<double>(xs[k * inner]));
        double sum = 0;
        for (int64_t k = 0; k < n; ++k)
          sum += std::exp(static_cast<double>(xs[k * inner]) - mx);
        for (int64_t k = 0; k < n; ++k) {
          const double d = static_cast<double>(xs[k * inner]) - mx;
          ys[k * inner] = static_cast<T>(log ? d - std::log(sum) : std::exp(d) / sum);
        }
      }
    }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  ref::AxisSplit split_;
};

// ---- Normalization (layer norm, RMS norm)
// ----------------------------------------------------------

/// Stores a double into element i of a f32 or f64 buffer.
void storeFloat(DataType t, void* p, int64_t i, double v) {
  if (t == DataType::kFloat64)
    static_cast<double*>(p)[i] = v;
  else
    static_cast<float*>(p)[i] = static_cast<float>(v);
}

class NormalizationKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  /// Offsets into a scale/bias of dims `p` broadcast over the normalized dims `norm`.
  Expected<std::vector<int64_t>> paramIndex(const Dims& p, const Dims& norm, const char* what) {
    Dims stripped = p;
    while (stripped.size() > norm.size() && stripped.front() == 1)
      stripped.erase(stripped.begin());
    if (!ref::broadcastsTo(stripped, norm))
      return layerError(desc_, std::string(what) + dimsToString(p) +
                                   " does not broadcast to the normalized dims " +
                                   dimsToString(norm));
    std::vector<int64_t> index;
    index.reserve(static_cast<size_t>(volume(norm)));
    ref::forEachRow<1>(norm, {ref::broadcastStrides(stripped, norm)},
                       [&](const auto& off, int64_t len, const auto& st) {
                         for (int64_t i = 0; i < len; ++i)
                           index.push_back(off[0] + i * st[0]);
                       });
    return index;
  }

  Status reshaped() override {
    const Dims& x = in_[0].dims;
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc_, attrs<NormalizationAttrs>().axis,
                                                      static_cast<int64_t>(x.size())));
    const Dims norm(x.begin() + axis, x.end());
    outer_ = ref::volumeOf(x, 0, static_cast<size_t>(axis));
    inner_ = volume(norm);
    KILN_ASSIGN_OR_RETURN(scaleIndex_, paramIndex(in_[1].dims, norm, "scale"));
    biasIndex_.clear();
    if (desc_.hasInput(2)) {
      KILN_ASSIGN_OR_RETURN(biasIndex_, paramIndex(in_[2].dims, norm, "bias"));
    }
    for (size_t k = 1; k < out_.size(); ++k)
      if (volume(out_[k].dims) != outer_)
        return layerError(desc_, "output " + std::to_string(k) +
                                     " (mean / inv std dev) must have " + std::to_string(outer_) +
                                     " elements");
    return Status::ok();
  }

  template <class T>
  Status run() {
    const double eps = attrs<NormalizationAttrs>().epsilon;
    const T* x = in<T>(0);
    const T* scale = in<T>(1);
    const T* bias = biasIndex_.empty() ? nullptr : in<T>(2);
    T* y = out<T>(0);
    for (int64_t o = 0; o < outer_; ++o) {
      const T* xr = x + o * inner_;
      T* yr = y + o * inner_;
      double sum = 0;
      for (int64_t i = 0; i < inner_; ++i)
        sum += static_cast<double>(xr[i]);
      // RMS normalization removes no mean: the "variance" below is then mean(x^2).
      const double mean =
          attrs<NormalizationAttrs>().rms || inner_ == 0 ? 0.0 : sum / static_cast<double>(inner_);
      double sq = 0;
      for (int64_t i = 0; i < inner_; ++i) {
        const double d = static_cast<double>(xr[i]) - mean;
        sq += d * d;
      }
      const double var = inner_ > 0 ? sq / static_cast<double>(inner_) : 0.0;
      const double inv = 1.0 / std::sqrt(var + eps);
      for (int64_t i = 0; i < inner_; ++i) {
        double v = (static_cast<double>(xr[i]) - mean) * inv *
                   static_cast<double>(scale[scaleIndex_[static_cast<size_t>(i)]]);
        if (bias) v += static_cast<double>(bias[biasIndex_[static_cast<size_t>(i)]]);
        yr[i] = static_cast<T>(v);
      }
      if (out_.size() > 1) storeFloat(out_[1].dtype, outPtr_[1], o, mean);
      if (out_.size() > 2) storeFloat(out_[2].dtype, outPtr_[2], o, inv);
    }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  int64_t outer_ = 0, inner_ = 0;
  std::vector<int64_t> scaleIndex_, biasIndex_;  ///< per normalized element
};

constexpr std::initializer_list<DataType> kFloatTypes = {DataType::kFloat32, DataType::kFloat64};

}  // namespace

Status supportsReferenceSoftmax(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kFloatTypes));
  return ref::requireOutputType(desc, 0, {desc.inputs[0].dtype});
}

Expected<std::unique_ptr<Kernel>> createReferenceSoftmax(const LayerDesc& desc) {
  return ref::makeKernel<SoftmaxKernel>(desc);
}

Status supportsReferenceNormalization(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kFloatTypes));
  const DataType t = desc.inputs[0].dtype;
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 1, {t}));
  if (desc.hasInput(2)) KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 2, {t}));
  KILN_RETURN_IF_ERROR(ref::requireOutputType(desc, 0, {t}));
  for (size_t k = 1; k < desc.outputs.size() && k < 3; ++k)
    KILN_RETURN_IF_ERROR(ref::requireOutputType(desc, k, kFloatTypes));
  if (desc.outputs.size() > 3) return layerError(desc, "expected at most 3 outputs");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createReferenceNormalization(const LayerDesc& desc) {
  return ref::makeKernel<NormalizationKernel>(desc);
}

}  // namespace kiln
