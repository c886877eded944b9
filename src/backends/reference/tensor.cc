// kiln — reference data-movement kernels: Pad, Trilu.
//
// They move elements by size (any dtype of 1, 2, 4 or 8 bytes), so a new element type works
// without a new instance.
#include <cstring>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

/// Source coordinate of output coordinate `o` along a dim of size `n` padded by `begin` in front;
/// -1 when it falls in constant padding.
int64_t padSource(PadMode mode, int64_t o, int64_t begin, int64_t n) {
  int64_t s = o - begin;
  if (s >= 0 && s < n) return s;
  if (n == 0) return -1;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kEdge:
      return s < 0 ? 0 : n - 1;
    case PadMode::kWrap:
      return ((s % n) + n) % n;
    case PadMode::kReflect: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      s = ((s % period) + period) % period;
      return s < n ? s : period - s;
    }
  }
  return -1;
}

class PadKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    const int64_t rank = static_cast<int64_t>(x.size());
    std::vector<int64_t> axes;
    if (desc_.hasInput(3)) {
      KILN_ASSIGN_OR_RETURN(axes, paramInts(3));
      for (int64_t& a : axes) {
        KILN_ASSIGN_OR_RETURN(a, normalizeAxis(desc_, a, rank));
      }
    } else {
      for (int64_t i = 0; i < rank; ++i)
        axes.push_back(i);
    }
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> pads, paramInts(1));
    if (pads.size() != 2 * axes.size())
      return layerError(desc_, "pads holds " + std::to_string(pads.size()) + " values for " +
                                   std::to_string(axes.size()) + " axes");
    begin_.assign(x.size(), 0);
    Dims expect = x;
    for (size_t i = 0; i < axes.size(); ++i) {
      const size_t a = static_cast<size_t>(axes[i]);
      begin_[a] = pads[i];
      expect[a] = x[a] + pads[i] + pads[i + axes.size()];
    }
    if (expect != out_[0].dims)
      return layerError(desc_, "output dims " + dimsToString(out_[0].dims) + " differ from " +
                                   dimsToString(expect));
    const PadMode mode = attrs<PadAttrs>().mode;
    for (size_t a = 0; a < x.size(); ++a)
      if (x[a] == 0 && expect[a] > 0 && mode != PadMode::kConstant)
        return layerError(desc_, std::string("cannot ") + enumName(mode) +
                                     "-pad an axis of size 0 (input " + dimsToString(x) + ")");
    return Status::ok();
  }

  Status compute() override {
    const Dims& y = out_[0].dims;
    const Dims& x = in_[0].dims;
    const size_t elem = dataTypeSize(out_[0].dtype);
    const int64_t count = volume(y);
    if (count == 0) return Status::ok();
    std::vector<char> value(elem, 0);
    if (desc_.hasInput(2) && in_[2].bytes() >= elem) std::memcpy(value.data(), in<void>(2), elem);
    const ref::Strides xs = ref::contiguousStrides(x);
    const PadMode mode = attrs<PadAttrs>().mode;
    const char* src = static_cast<const char*>(in<void>(0));
    char* dst = static_cast<char*>(out<void>(0));
    std::vector<int64_t> idx(y.size(), 0);
    for (int64_t i = 0; i < count; ++i) {
      int64_t off = 0;
      bool inside = true;
      for (size_t d = 0; d < y.size() && inside; ++d) {
        const int64_t s = padSource(mode, idx[d], begin_[d], x[d]);
        if (s < 0)
          inside = false;
        else
          off += s * xs[d];
      }
      std::memcpy(dst + static_cast<size_t>(i) * elem,
                  inside ? src + static_cast<size_t>(off) * elem : value.data(), elem);
      for (size_t d = y.size(); d-- > 0;) {
        if (++idx[d] < y[d]) break;
        idx[d] = 0;
      }
    }
    return Status::ok();
  }

  std::vector<int64_t> begin_;  ///< pad in front of each dim (negative: cropped)
};

class TriluKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    k_ = 0;
    if (desc_.hasInput(1)) {
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> k, paramInts(1));
      if (k.size() != 1) return layerError(desc_, "k must be one value");
      k_ = k[0];
    }
    if (in_[0].dims != out_[0].dims || in_[0].dims.size() < 2)
      return layerError(desc_, "unexpected dims " + dimsToString(in_[0].dims) + " -> " +
                                   dimsToString(out_[0].dims));
    return Status::ok();
  }

  Status compute() override {
    const Dims& x = in_[0].dims;
    const int64_t rows = x[x.size() - 2], cols = x[x.size() - 1];
    const int64_t mats = ref::volumeOf(x, 0, x.size() - 2);
    const size_t elem = dataTypeSize(out_[0].dtype);
    const bool upper = attrs<TriluAttrs>().upper;
    const char* src = static_cast<const char*>(in<void>(0));
    char* dst = static_cast<char*>(out<void>(0));
    for (int64_t m = 0; m < mats; ++m)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          const size_t off = static_cast<size_t>((m * rows + i) * cols + j) * elem;
          const bool keep = upper ? j - i >= k_ : j - i <= k_;
          if (keep)
            std::memmove(dst + off, src + off, elem);
          else
            std::memset(dst + off, 0, elem);  // zero of every numeric type and of bool
        }
    return Status::ok();
  }

  int64_t k_ = 0;
};

Status requireSameDtype(const LayerDesc& desc) {
  return ref::requireOutputType(desc, 0, {desc.inputs[0].dtype});
}

}  // namespace

Status supportsReferencePad(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  if (desc.hasInput(2))
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 2, {desc.inputs[0].dtype}));
  return requireSameDtype(desc);
}

Expected<std::unique_ptr<Kernel>> createReferencePad(const LayerDesc& desc) {
  return ref::makeKernel<PadKernel>(desc);
}

Status supportsReferenceTrilu(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  return requireSameDtype(desc);
}

Expected<std::unique_ptr<Kernel>> createReferenceTrilu(const LayerDesc& desc) {
  return ref::makeKernel<TriluKernel>(desc);
}

}  // namespace kiln
