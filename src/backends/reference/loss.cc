// kiln — reference NegativeLogLikelihood (the loss of ONNX NegativeLogLikelihoodLoss, and of
// SoftmaxCrossEntropyLoss after a log-softmax).
//
// loss[n, d] = -weight[t] * x[n, t, d] with t = target[n, d] (weight 1 when absent); an element
// whose target is the ignore index gives 0 and has weight 0. Reductions: none (per element), sum,
// or mean = sum(loss) / sum(weights of the counted elements) (0 / 0 gives NaN, as numpy does).
// Accumulates in double. dtypes: x and weight f32 or f64; target i32 or i64. A target outside
// [0, C) that is not the ignore index is an error.
#include <cmath>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

class NegativeLogLikelihoodKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    const Dims& t = in_[1].dims;
    if (x.size() < 2 || t.size() + 1 != x.size())
      return layerError(desc_, "input dims " + dimsToString(x) + " and target dims " +
                                   dimsToString(t) + " do not fit [N, C, d...] and [N, d...]");
    for (size_t i = 0; i < t.size(); ++i)
      if (t[i] != x[i == 0 ? 0 : i + 1])
        return layerError(desc_, "target dims " + dimsToString(t) + " do not match input dims " +
                                     dimsToString(x));
    if (desc_.hasInput(2) && in_[2].dims != Dims{x[1]})
      return layerError(desc_, "weight dims " + dimsToString(in_[2].dims) + " are not [C] = [" +
                                   std::to_string(x[1]) + "]");
    n_ = x[0];
    c_ = x[1];
    d_ = ref::volumeOf(x, 2, x.size());
    return Status::ok();
  }

  template <class T, class I>
  Status run() {
    const auto& a = attrs<NegativeLogLikelihoodAttrs>();
    const T* x = in<T>(0);
    const I* target = in<I>(1);
    const T* weight = desc_.hasInput(2) ? in<T>(2) : nullptr;
    T* y = out<T>(0);
    double sum = 0, weightSum = 0;
    for (int64_t n = 0; n < n_; ++n) {
      for (int64_t d = 0; d < d_; ++d) {
        const int64_t i = n * d_ + d;
        const int64_t t = static_cast<int64_t>(target[i]);
        double loss = 0, w = 0;
        if (!(a.hasIgnoreIndex && t == a.ignoreIndex)) {
          if (t < 0 || t >= c_)
            return layerError(desc_, "target value " + std::to_string(t) +
                                         " is outside the class range [0, " + std::to_string(c_) +
                                         ")");
          w = weight ? static_cast<double>(weight[t]) : 1.0;
          loss = -w * static_cast<double>(x[(n * c_ + t) * d_ + d]);
        }
        if (a.reduction == LossReduction::kNone) y[i] = static_cast<T>(loss);
        sum += loss;
        weightSum += w;
      }
    }
    if (a.reduction == LossReduction::kSum) y[0] = static_cast<T>(sum);
    if (a.reduction == LossReduction::kMean) y[0] = static_cast<T>(sum / weightSum);
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(in_[0].dtype, [&](auto xTag) {
      using T = decltype(xTag);
      return ref::dispatchType<int32_t, int64_t>(
          in_[1].dtype, [&](auto tTag) { return run<T, decltype(tTag)>(); });
    });
  }

  int64_t n_ = 0, c_ = 0, d_ = 0;
};

}  // namespace

Status supportsReferenceNegativeLogLikelihood(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, {DataType::kFloat32, DataType::kFloat64}));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 1, {DataType::kInt32, DataType::kInt64}));
  if (desc.hasInput(2)) {
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 2, {desc.inputs[0].dtype}));
  }
  return ref::requireOutputType(desc, 0, {desc.inputs[0].dtype});
}

Expected<std::unique_ptr<Kernel>> createReferenceNegativeLogLikelihood(const LayerDesc& desc) {
  return ref::makeKernel<NegativeLogLikelihoodKernel>(desc);
}

}  // namespace kiln
