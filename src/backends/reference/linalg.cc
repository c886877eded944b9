// kiln — reference linear algebra: Determinant and Einsum.
//
// Determinant: x[..., M, M] -> y[...], by LU decomposition with partial pivoting in double.
// Einsum: the general contraction y[out labels] = sum over the other labels of the product of
// the inputs, each input indexed by its labels. A label repeated within one input reads its
// diagonal; a label of size 1 in one input and n in another broadcasts (ellipsis dims). One loop
// over every combination of label values: plain, and exact in the order it sums. Floats
// accumulate in double, integers in int64 (wrapping). dtypes: f32, f64 (Determinant); f32, f64,
// i32, i64 (Einsum).
#include <cmath>
#include <utility>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

// ---- Determinant -----------------------------------------------------------------------------

class DeterminantKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    if (x.size() < 2 || x[x.size() - 1] != x[x.size() - 2])
      return layerError(desc_, "input dims " + dimsToString(x) + " must end with [M, M]");
    m_ = x.back();
    return Status::ok();
  }

  template <class T>
  Status run() {
    const int64_t count = volume(out_[0].dims);
    const size_t m = static_cast<size_t>(m_);
    const T* x = in<T>(0);
    T* y = out<T>(0);
    std::vector<double> a(m * m);
    for (int64_t b = 0; b < count; ++b) {
      for (size_t i = 0; i < m * m; ++i)
        a[i] = static_cast<double>(x[static_cast<size_t>(b) * m * m + i]);
      double det = 1;
      for (size_t c = 0; c < m && det != 0; ++c) {
        size_t pivot = c;
        for (size_t r = c + 1; r < m; ++r)
          if (std::fabs(a[r * m + c]) > std::fabs(a[pivot * m + c])) pivot = r;
        if (a[pivot * m + c] == 0) {
          det = 0;
          break;
        }
        if (pivot != c) {
          for (size_t k = 0; k < m; ++k)
            std::swap(a[c * m + k], a[pivot * m + k]);
          det = -det;
        }
        det *= a[c * m + c];
        for (size_t r = c + 1; r < m; ++r) {
          const double f = a[r * m + c] / a[c * m + c];
          for (size_t k = c; k < m; ++k)
            a[r * m + k] -= f * a[c * m + k];
        }
      }
      y[b] = static_cast<T>(det);
    }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  int64_t m_ = 0;
};

// ---- Einsum ----------------------------------------------------------------------------------

class EinsumKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  /// Labels of input k (attrs: every input's labels, each list ended by -1).
  std::vector<std::vector<int64_t>> inputLabels() const {
    std::vector<std::vector<int64_t>> out(1);
    for (int64_t l : attrs<EinsumAttrs>().inputLabels) {
      if (l < 0)
        out.emplace_back();
      else
        out.back().push_back(l);
    }
    out.pop_back();
    return out;
  }

  Status reshaped() override {
    const auto& a = attrs<EinsumAttrs>();
    const auto labels = inputLabels();
    if (labels.size() != in_.size())
      return layerError(desc_, "the equation names " + std::to_string(labels.size()) +
                                   " inputs, the layer has " + std::to_string(in_.size()));
    // Every label's size: the largest of its dims (the others must be equal or 1).
    labels_.clear();
    sizes_.clear();
    auto slot = [&](int64_t l) {
      for (size_t i = 0; i < labels_.size(); ++i)
        if (labels_[i] == l) return i;
      labels_.push_back(l);
      sizes_.push_back(1);
      return labels_.size() - 1;
    };
    for (int64_t l : a.outputLabels)
      slot(l);
    for (size_t k = 0; k < labels.size(); ++k) {
      if (labels[k].size() != in_[k].dims.size())
        return layerError(desc_, "input " + std::to_string(k) + " has rank " +
                                     std::to_string(in_[k].dims.size()) + ", the equation gives " +
                                     std::to_string(labels[k].size()) + " labels");
      for (size_t d = 0; d < labels[k].size(); ++d) {
        const size_t s = slot(labels[k][d]);
        const int64_t n = in_[k].dims[d];
        if (sizes_[s] != 1 && n != 1 && n != sizes_[s])
          return layerError(desc_, "a label has sizes " + std::to_string(sizes_[s]) + " and " +
                                       std::to_string(n));
        if (n != 1) sizes_[s] = n;
      }
    }
    // Per operand (output first), the element stride of each label (summed over repeats, so a
    // repeated label walks the diagonal; 0 where the operand lacks it or broadcasts it).
    strides_.assign(in_.size() + 1, ref::Strides(labels_.size(), 0));
    const ref::Strides ys = ref::contiguousStrides(out_[0].dims);
    for (size_t d = 0; d < a.outputLabels.size(); ++d)
      strides_[0][slot(a.outputLabels[d])] += ys[d];
    for (size_t k = 0; k < labels.size(); ++k) {
      const ref::Strides xs = ref::contiguousStrides(in_[k].dims);
      for (size_t d = 0; d < labels[k].size(); ++d) {
        const size_t s = slot(labels[k][d]);
        if (in_[k].dims[d] != 1 || sizes_[s] == 1) strides_[k + 1][s] += xs[d];
      }
    }
    return Status::ok();
  }

  template <class T>
  Status run() {
    using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
    const size_t nIn = in_.size();
    std::vector<Acc> acc(static_cast<size_t>(volume(out_[0].dims)), Acc(0));
    for (int64_t s : sizes_)
      if (s == 0) return store<T>(acc);
    std::vector<int64_t> idx(labels_.size(), 0);
    std::vector<int64_t> off(nIn + 1, 0);
    while (true) {
      Acc p = 1;
      for (size_t k = 0; k < nIn; ++k) {
        const Acc v = static_cast<Acc>(in<T>(k)[off[k + 1]]);
        if constexpr (std::is_integral_v<T>)
          p = static_cast<Acc>(static_cast<uint64_t>(p) * static_cast<uint64_t>(v));
        else
          p *= v;
      }
      Acc& y = acc[static_cast<size_t>(off[0])];
      if constexpr (std::is_integral_v<T>)
        y = static_cast<Acc>(static_cast<uint64_t>(y) + static_cast<uint64_t>(p));
      else
        y += p;
      // Odometer over the labels, last fastest.
      size_t d = labels_.size();
      while (d > 0) {
        --d;
        if (++idx[d] < sizes_[d]) {
          for (size_t k = 0; k <= nIn; ++k)
            off[k] += strides_[k][d];
          break;
        }
        for (size_t k = 0; k <= nIn; ++k)
          off[k] -= strides_[k][d] * (sizes_[d] - 1);
        idx[d] = 0;
        if (d == 0) return store<T>(acc);
      }
      if (labels_.empty()) return store<T>(acc);
    }
  }

  template <class T, class Acc>
  Status store(const std::vector<Acc>& acc) {
    T* y = out<T>(0);
    for (size_t i = 0; i < acc.size(); ++i)
      y[i] = static_cast<T>(acc[i]);
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_ARITH_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  std::vector<int64_t> labels_;  ///< output labels first, then the summed ones
  std::vector<int64_t> sizes_;
  std::vector<ref::Strides> strides_;  ///< [operand][label]; operand 0 is the output
};

constexpr std::initializer_list<DataType> kFloatTypes = {DataType::kFloat32, DataType::kFloat64};

}  // namespace

Status supportsReferenceDeterminant(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kFloatTypes));
  return ref::requireOutputType(desc, 0, {desc.inputs[0].dtype});
}

Expected<std::unique_ptr<Kernel>> createReferenceDeterminant(const LayerDesc& desc) {
  return ref::makeKernel<DeterminantKernel>(desc);
}

Status supportsReferenceEinsum(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  const DataType t = desc.outputs[0].dtype;
  KILN_RETURN_IF_ERROR(ref::requireOutputType(
      desc, 0, {DataType::kFloat32, DataType::kFloat64, DataType::kInt32, DataType::kInt64}));
  for (size_t k = 0; k < desc.inputs.size(); ++k) {
    if (!desc.hasInput(k)) return layerError(desc, "input " + std::to_string(k) + " is absent");
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, k, {t}));
  }
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createReferenceEinsum(const LayerDesc& desc) {
  return ref::makeKernel<EinsumKernel>(desc);
}

}  // namespace kiln
