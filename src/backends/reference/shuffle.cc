// kiln — reference data movement: Shuffle (reshape / squeeze / unsqueeze / flatten /
// transpose), Concatenation, Slice, Split and Expand.
//
// These kernels never look at values: they move elements by their byte size, so every dtype
// (f16 and bf16 included) is supported. All of them reduce to ref::stridedCopy over the output
// (or input) index space with suitable strides.
#include <algorithm>
#include <cstring>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

using ref::Strides;

Status requireSameDtype(const LayerDesc& desc) {
  const DataType t = desc.inputs[0].dtype;
  for (size_t k = 0; k < desc.outputs.size(); ++k)
    if (desc.outputs[k].dtype != t)
      return layerError(desc, "output " + std::to_string(k) + " has dtype " +
                                  dataTypeName(desc.outputs[k].dtype) + ", input has " +
                                  dataTypeName(t));
  return Status::ok();
}

// ---- Shuffle -----------------------------------------------------------------------------

class ShuffleKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    const Dims& y = out_[0].dims;
    if (volume(x) != volume(y))
      return layerError(desc_, "input " + dimsToString(x) + " and output " + dimsToString(y) +
                                   " have different element counts");
    const auto& a = attrs<ShuffleAttrs>();
    if (a.mode != ShuffleMode::kTranspose) return Status::ok();  // a plain copy
    std::vector<int64_t> perm = a.perm;
    if (perm.empty())
      for (size_t i = x.size(); i-- > 0;)
        perm.push_back(static_cast<int64_t>(i));
    if (perm.size() != x.size() || y.size() != x.size())
      return layerError(desc_, "perm must have one entry per input dim");
    const Strides xs = ref::contiguousStrides(x);
    srcStrides_.assign(x.size(), 0);
    std::vector<bool> seen(x.size(), false);
    for (size_t i = 0; i < perm.size(); ++i) {
      const int64_t p = perm[i];
      if (p < 0 || p >= static_cast<int64_t>(x.size()) || seen[static_cast<size_t>(p)])
        return layerError(desc_, "perm is not a permutation of the input dims");
      seen[static_cast<size_t>(p)] = true;
      if (y[i] != x[static_cast<size_t>(p)])
        return layerError(
            desc_, "output " + dimsToString(y) + " is not the transpose of " + dimsToString(x));
      srcStrides_[i] = xs[static_cast<size_t>(p)];
    }
    return Status::ok();
  }

  Status compute() override {
    if (attrs<ShuffleAttrs>().mode == ShuffleMode::kTranspose)
      return ref::stridedCopy(out_[0].dims, out<void>(0), ref::contiguousStrides(out_[0].dims),
                              in<void>(0), srcStrides_, dataTypeSize(out_[0].dtype));
    if (out_[0].bytes() != 0) std::memmove(out<void>(0), in<void>(0), out_[0].bytes());
    return Status::ok();
  }

  Strides srcStrides_;  ///< kTranspose: input strides in output dim order
};

// ---- Concatenation -----------------------------------------------------------------------

class ConcatenationKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& y = out_[0].dims;
    KILN_ASSIGN_OR_RETURN(axis_, normalizeAxis(desc_, attrs<ConcatenationAttrs>().axis,
                                               static_cast<int64_t>(y.size())));
    const size_t a = static_cast<size_t>(axis_);
    int64_t total = 0;
    for (const TensorDesc& t : in_) {
      Dims expect = y;
      if (t.dims.size() == y.size()) expect[a] = t.dims[a];
      if (t.dims != expect)
        return layerError(desc_, "input " + dimsToString(t.dims) + " does not fit output " +
                                     dimsToString(y) + " along axis " + std::to_string(axis_));
      total += t.dims[a];
    }
    if (total != y[a]) return layerError(desc_, "input sizes along the axis do not add up");
    return Status::ok();
  }

  Status compute() override {
    const Dims& y = out_[0].dims;
    const Strides ys = ref::contiguousStrides(y);
    const size_t elem = dataTypeSize(out_[0].dtype);
    int64_t offset = 0;  // along the axis
    for (size_t k = 0; k < in_.size(); ++k) {
      char* dst = static_cast<char*>(out<void>(0)) +
                  static_cast<size_t>(offset * ys[static_cast<size_t>(axis_)]) * elem;
      KILN_RETURN_IF_ERROR(ref::stridedCopy(in_[k].dims, dst, ys, in<void>(k),
                                            ref::contiguousStrides(in_[k].dims), elem));
      offset += in_[k].dims[static_cast<size_t>(axis_)];
    }
    return Status::ok();
  }

  int64_t axis_ = 0;
};

// ---- Slice -------------------------------------------------------------------------------

class SliceKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  /// Reads starts, ends, axes and steps (possibly run-time values) for these shapes.
  Status readParams() {
    KILN_ASSIGN_OR_RETURN(starts_, paramInts(1));
    KILN_ASSIGN_OR_RETURN(ends_, paramInts(2));
    axes_.clear();
    steps_.assign(starts_.size(), 1);
    for (size_t i = 0; i < starts_.size(); ++i)
      axes_.push_back(static_cast<int64_t>(i));
    if (desc_.hasInput(3)) {
      KILN_ASSIGN_OR_RETURN(axes_, paramInts(3));
    }
    if (desc_.hasInput(4)) {
      KILN_ASSIGN_OR_RETURN(steps_, paramInts(4));
    }
    if (ends_.size() != starts_.size() || axes_.size() != starts_.size() ||
        steps_.size() != starts_.size())
      return layerError(desc_, "starts, ends, axes and steps must have the same length");
    for (int64_t st : steps_)
      if (st == 0) return layerError(desc_, "steps must not be 0");
    return Status::ok();
  }

  Status reshaped() override {
    KILN_RETURN_IF_ERROR(readParams());
    const Dims& x = in_[0].dims;
    const int64_t rank = static_cast<int64_t>(x.size());
    std::vector<int64_t> start(x.size(), 0), step(x.size(), 1);
    Dims size = x;
    std::vector<bool> seen(x.size(), false);
    for (size_t i = 0; i < starts_.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(desc_, axes_[i], rank));
      const size_t d = static_cast<size_t>(axis);
      if (seen[d]) return layerError(desc_, "axis " + std::to_string(axis) + " repeats");
      seen[d] = true;
      const int64_t dim = x[d], st = steps_[i];
      int64_t s = starts_[i], e = ends_[i];
      if (s < 0) s += dim;
      if (e < 0) e += dim;
      // ONNX Slice clamping: [0, dim] going forward, [-1, dim - 1] going backward.
      if (dim == 0) {
        size[d] = 0;
      } else if (st > 0) {
        s = std::clamp<int64_t>(s, 0, dim);
        e = std::clamp<int64_t>(e, 0, dim);
        size[d] = e > s ? (e - s - 1) / st + 1 : 0;
      } else {
        s = std::clamp<int64_t>(s, 0, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
        // -st as unsigned: st may be INT64_MIN.
        size[d] = s > e
                      ? static_cast<int64_t>(
                            static_cast<uint64_t>(s - e - 1) / (0 - static_cast<uint64_t>(st)) + 1)
                      : 0;
      }
      start[d] = s;
      step[d] = st;
    }
    if (size != out_[0].dims)
      return layerError(desc_, "output dims " + dimsToString(out_[0].dims) +
                                   " differ from the slice size " + dimsToString(size));
    const Strides xs = ref::contiguousStrides(x);
    base_ = 0;
    srcStrides_.assign(x.size(), 0);
    for (size_t d = 0; d < x.size(); ++d) {
      if (size[d] > 0) base_ += start[d] * xs[d];
      srcStrides_[d] = xs[d] * step[d];
    }
    return Status::ok();
  }

  Status compute() override {
    if (volume(out_[0].dims) == 0) return Status::ok();
    const size_t elem = dataTypeSize(out_[0].dtype);
    const char* src = static_cast<const char*>(in<void>(0)) + static_cast<size_t>(base_) * elem;
    return ref::stridedCopy(out_[0].dims, out<void>(0), ref::contiguousStrides(out_[0].dims), src,
                            srcStrides_, elem);
  }

  std::vector<int64_t> starts_, ends_, axes_, steps_;
  int64_t base_ = 0;    ///< element offset of the first selected input element
  Strides srcStrides_;  ///< input strides times steps
};

// ---- Split -------------------------------------------------------------------------------

class SplitKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    KILN_ASSIGN_OR_RETURN(
        axis_, normalizeAxis(desc_, attrs<SplitAttrs>().axis, static_cast<int64_t>(x.size())));
    const size_t a = static_cast<size_t>(axis_);
    int64_t total = 0;
    for (const TensorDesc& t : out_) {
      Dims expect = x;
      if (t.dims.size() == x.size()) expect[a] = t.dims[a];
      if (t.dims != expect)
        return layerError(desc_, "output " + dimsToString(t.dims) + " is not a part of input " +
                                     dimsToString(x) + " along axis " + std::to_string(axis_));
      total += t.dims[a];
    }
    if (total != x[a]) return layerError(desc_, "output sizes along the axis do not add up");
    return Status::ok();
  }

  Status compute() override {
    const Strides xs = ref::contiguousStrides(in_[0].dims);
    const size_t elem = dataTypeSize(in_[0].dtype);
    int64_t offset = 0;
    for (size_t k = 0; k < out_.size(); ++k) {
      const char* src = static_cast<const char*>(in<void>(0)) +
                        static_cast<size_t>(offset * xs[static_cast<size_t>(axis_)]) * elem;
      KILN_RETURN_IF_ERROR(ref::stridedCopy(out_[k].dims, out<void>(k),
                                            ref::contiguousStrides(out_[k].dims), src, xs, elem));
      offset += out_[k].dims[static_cast<size_t>(axis_)];
    }
    return Status::ok();
  }

  int64_t axis_ = 0;
};

// ---- Expand ------------------------------------------------------------------------------

class ExpandKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    if (!ref::broadcastsTo(in_[0].dims, out_[0].dims))
      return layerError(desc_, "input " + dimsToString(in_[0].dims) + " does not broadcast to " +
                                   dimsToString(out_[0].dims));
    return Status::ok();
  }

  Status compute() override {
    const Dims& y = out_[0].dims;
    return ref::stridedCopy(y, out<void>(0), ref::contiguousStrides(y), in<void>(0),
                            ref::broadcastStrides(in_[0].dims, y), dataTypeSize(out_[0].dtype));
  }
};

}  // namespace

Status supportsReferenceShuffle(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  return requireSameDtype(desc);
}

Expected<std::unique_ptr<Kernel>> createReferenceShuffle(const LayerDesc& desc) {
  return ref::makeKernel<ShuffleKernel>(desc);
}

Status supportsReferenceConcatenation(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, desc.inputs.size()));
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  for (size_t k = 1; k < desc.inputs.size(); ++k)
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, k, {desc.inputs[0].dtype}));
  return requireSameDtype(desc);
}

Expected<std::unique_ptr<Kernel>> createReferenceConcatenation(const LayerDesc& desc) {
  return ref::makeKernel<ConcatenationKernel>(desc);
}

Status supportsReferenceSlice(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 3));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  return requireSameDtype(desc);
}

Expected<std::unique_ptr<Kernel>> createReferenceSlice(const LayerDesc& desc) {
  return ref::makeKernel<SliceKernel>(desc);
}

Status supportsReferenceSplit(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  return requireSameDtype(desc);
}

Expected<std::unique_ptr<Kernel>> createReferenceSplit(const LayerDesc& desc) {
  // The part sizes are the output dims along the axis (shape inference derived them from the
  // split input or num_outputs), so the split input itself is not read here.
  return ref::makeKernel<SplitKernel>(desc);
}

Status supportsReferenceExpand(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  return requireSameDtype(desc);
}

Expected<std::unique_ptr<Kernel>> createReferenceExpand(const LayerDesc& desc) {
  return ref::makeKernel<ExpandKernel>(desc);
}

}  // namespace kiln
