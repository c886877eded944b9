// kiln — cpu data movement for every dtype (elements moved by their byte size):
//   cpu.shuffle.copy         reshape / squeeze / unsqueeze / flatten / transpose
//   cpu.slice.copy           slices with any steps
//   cpu.concatenation.copy   concatenation along any axis
//   cpu.split.copy           split along any axis
// Each is one or more strided copies. A copy's index space is collapsed first (adjacent dims
// that both sides walk contiguously merge), so a reshape is one memcpy and a transpose that keeps
// the innermost dim copies whole rows; rows are split over the threads.
#include <algorithm>
#include <cstring>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/parallel.h"

namespace kiln::cpu {
namespace {

/// Bytes per thread below which a copy runs on one thread.
constexpr int64_t kCopyGrainBytes = 256 << 10;

Dims contiguous(const Dims& d) {
  Dims s(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;)
    s[i - 1] = s[i] * d[i];
  return s;
}

/// A strided copy: dst[sum i_d * dstStride_d] = src[sum i_d * srcStride_d] over `dims`.
struct CopyPlan {
  Dims dims, src, dst;
  int64_t rows = 0, len = 0;
  size_t elem = 4;

  void make(const Dims& d, const Dims& srcStrides, const Dims& dstStrides, size_t elemSize) {
    elem = elemSize;
    dims.clear();
    src.clear();
    dst.clear();
    for (size_t i = d.size(); i-- > 0;) {
      if (d[i] == 1) continue;
      if (!dims.empty() && srcStrides[i] == src.back() * dims.back() &&
          dstStrides[i] == dst.back() * dims.back()) {
        dims.back() *= d[i];
        continue;
      }
      dims.push_back(d[i]);
      src.push_back(srcStrides[i]);
      dst.push_back(dstStrides[i]);
    }
    if (dims.empty()) {
      dims = {1};
      src = {1};
      dst = {1};
    }
    std::reverse(dims.begin(), dims.end());
    std::reverse(src.begin(), src.end());
    std::reverse(dst.begin(), dst.end());
    len = dims.back();
    rows = 1;
    for (size_t i = 0; i + 1 < dims.size(); ++i)
      rows *= dims[i];
    for (int64_t x : d)
      if (x == 0) rows = 0;
  }

  template <class W>
  void rowsOf(const W* s, W* t, int64_t lo, int64_t hi) const {
    const size_t outer = dims.size() - 1;
    std::vector<int64_t> idx(outer, 0);
    int64_t so = 0, to = 0, r = lo;
    for (size_t d = outer; d-- > 0;) {
      idx[d] = r % dims[d];
      r /= dims[d];
      so += idx[d] * src[d];
      to += idx[d] * dst[d];
    }
    const int64_t ss = src.back(), ts = dst.back();
    for (int64_t row = lo; row < hi; ++row) {
      if (ss == 1 && ts == 1) {
        std::memcpy(t + to, s + so, static_cast<size_t>(len) * sizeof(W));
      } else {
        for (int64_t i = 0; i < len; ++i)
          t[to + i * ts] = s[so + i * ss];
      }
      for (size_t d = outer; d-- > 0;) {
        so += src[d];
        to += dst[d];
        if (++idx[d] < dims[d]) break;
        so -= src[d] * dims[d];
        to -= dst[d] * dims[d];
        idx[d] = 0;
      }
    }
  }

  template <class W>
  void runTyped(int threads, const void* s, void* t) const {
    const int64_t rowBytes = len * static_cast<int64_t>(elem);
    if (rows == 1 && src.back() == 1 && dst.back() == 1) {  // one contiguous block
      parallelFor(threads, rowBytes, kCopyGrainBytes, [&](int64_t lo, int64_t hi) {
        std::memcpy(static_cast<char*>(t) + lo, static_cast<const char*>(s) + lo,
                    static_cast<size_t>(hi - lo));
      });
      return;
    }
    parallelFor(threads, rows,
                std::max<int64_t>(1, kCopyGrainBytes / std::max<int64_t>(rowBytes, 1)),
                [&](int64_t lo, int64_t hi) {
                  rowsOf(static_cast<const W*>(s), static_cast<W*>(t), lo, hi);
                });
  }

  void run(int threads, const void* s, void* t) const {
    if (rows == 0 || len == 0) return;
    switch (elem) {
      case 1:
        return runTyped<uint8_t>(threads, s, t);
      case 2:
        return runTyped<uint16_t>(threads, s, t);
      case 4:
        return runTyped<uint32_t>(threads, s, t);
      default:
        return runTyped<uint64_t>(threads, s, t);
    }
  }
};

/// Copies with fixed byte offsets into source and destination.
struct Copy {
  CopyPlan plan;
  size_t srcInput = 0, dstOutput = 0;    ///< which input / output
  int64_t srcOffset = 0, dstOffset = 0;  ///< elements
};

class CopyKernel : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 protected:
  Status compute() override {
    for (const Copy& c : copies_) {
      const size_t e = c.plan.elem;
      c.plan.run(
          threads_,
          static_cast<const char*>(inPtr_[c.srcInput]) + static_cast<size_t>(c.srcOffset) * e,
          static_cast<char*>(outPtr_[c.dstOutput]) + static_cast<size_t>(c.dstOffset) * e);
    }
    return Status::ok();
  }

  std::vector<Copy> copies_;
};

class ShuffleKernel final : public CopyKernel {
 public:
  using CopyKernel::CopyKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    const Dims& y = out_[0].dims;
    if (volume(x) != volume(y)) return layerError(desc_, "element counts differ");
    copies_.assign(1, {});
    const size_t elem = dataTypeSize(out_[0].dtype);
    const auto& a = attrs<ShuffleAttrs>();
    if (a.mode != ShuffleMode::kTranspose) {
      copies_[0].plan.make({volume(y)}, {1}, {1}, elem);
      return Status::ok();
    }
    std::vector<int64_t> perm = a.perm;
    if (perm.empty())
      for (size_t i = x.size(); i-- > 0;)
        perm.push_back(static_cast<int64_t>(i));
    if (perm.size() != x.size() || y.size() != x.size())
      return layerError(desc_, "perm must have one entry per input dim");
    const Dims xs = contiguous(x);
    Dims src(x.size());
    std::vector<bool> seen(x.size(), false);
    for (size_t i = 0; i < perm.size(); ++i) {
      const int64_t p = perm[i];
      if (p < 0 || p >= static_cast<int64_t>(x.size()) || seen[static_cast<size_t>(p)] ||
          y[i] != x[static_cast<size_t>(p)])
        return layerError(desc_, "output is not a transpose of the input");
      seen[static_cast<size_t>(p)] = true;
      src[i] = xs[static_cast<size_t>(p)];
    }
    copies_[0].plan.make(y, src, contiguous(y), elem);
    return Status::ok();
  }
};

class SliceKernel final : public CopyKernel {
 public:
  SliceKernel(const LayerDesc& desc, std::vector<int64_t> starts, std::vector<int64_t> ends,
              std::vector<int64_t> axes, std::vector<int64_t> steps)
      : CopyKernel(desc),
        starts_(std::move(starts)),
        ends_(std::move(ends)),
        axes_(std::move(axes)),
        steps_(std::move(steps)) {}

 private:
  Status reshaped() override {
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
        size[d] = e > s ? (e - s + st - 1) / st : 0;
      } else {
        s = std::clamp<int64_t>(s, 0, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
        size[d] = s > e ? (s - e - st - 1) / -st : 0;
      }
      start[d] = s;
      step[d] = st;
    }
    if (size != out_[0].dims)
      return layerError(desc_, "output dims " + dimsToString(out_[0].dims) +
                                   " differ from the slice size " + dimsToString(size));
    const Dims xs = contiguous(x);
    Copy c;
    Dims src(x.size());
    for (size_t d = 0; d < x.size(); ++d) {
      if (size[d] > 0) c.srcOffset += start[d] * xs[d];
      src[d] = xs[d] * step[d];
    }
    c.plan.make(size, src, contiguous(size), dataTypeSize(out_[0].dtype));
    copies_.assign(1, c);
    return Status::ok();
  }

  std::vector<int64_t> starts_, ends_, axes_, steps_;
};

/// Concatenation (many inputs into one output) and Split (one input into many outputs): each
/// part is a copy between a whole tensor and a window of the other side along `axis`.
class PartsKernel final : public CopyKernel {
 public:
  using CopyKernel::CopyKernel;

 private:
  Status reshaped() override {
    const bool concat = desc_.kind() == LayerKind::kConcatenation;
    const std::vector<TensorDesc>& parts = concat ? in_ : out_;
    const Dims& whole = concat ? out_[0].dims : in_[0].dims;
    const int64_t attrAxis = concat ? attrs<ConcatenationAttrs>().axis : attrs<SplitAttrs>().axis;
    KILN_ASSIGN_OR_RETURN(int64_t axis,
                          normalizeAxis(desc_, attrAxis, static_cast<int64_t>(whole.size())));
    const size_t a = static_cast<size_t>(axis);
    const Dims ws = contiguous(whole);
    const size_t elem = dataTypeSize((concat ? out_ : in_)[0].dtype);
    copies_.clear();
    int64_t offset = 0;
    for (size_t k = 0; k < parts.size(); ++k) {
      const Dims& p = parts[k].dims;
      Dims expect = whole;
      if (p.size() == whole.size()) expect[a] = p[a];
      if (p != expect)
        return layerError(desc_, "part " + dimsToString(p) + " does not fit " +
                                     dimsToString(whole) + " along axis " + std::to_string(axis));
      Copy c;
      if (concat) {
        c.srcInput = k;
        c.dstOffset = offset * ws[a];
        c.plan.make(p, contiguous(p), ws, elem);
      } else {
        c.dstOutput = k;
        c.srcOffset = offset * ws[a];
        c.plan.make(p, ws, contiguous(p), elem);
      }
      copies_.push_back(c);
      offset += p[a];
    }
    if (offset != whole[a]) return layerError(desc_, "part sizes along the axis do not add up");
    return Status::ok();
  }
};

Status requireSameDtypes(const LayerDesc& desc) {
  if (desc.inputs.empty() || !desc.hasInput(0)) return decline(desc, "input 0 is required");
  const DataType t = desc.inputs[0].dtype;
  for (const TensorDesc& o : desc.outputs)
    if (o.dtype != t) return decline(desc, "output dtype differs from the input's");
  return Status::ok();
}

}  // namespace

Status supportsCopyShuffle(const LayerDesc& desc) {
  return requireSameDtypes(desc);
}

Expected<std::unique_ptr<Kernel>> createCopyShuffle(const LayerDesc& desc) {
  return makeKernel<ShuffleKernel>(desc);
}

Status supportsCopySlice(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireSameDtypes(desc));
  for (size_t k = 1; k < desc.inputs.size(); ++k)
    if (desc.hasInput(k) && (k >= desc.constantInputs.size() || !desc.constantInputs[k]))
      return decline(desc, "slice parameters are not constants");
  if (!desc.hasInput(1) || !desc.hasInput(2)) return decline(desc, "starts and ends are required");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createCopySlice(const LayerDesc& desc) {
  KILN_ASSIGN_OR_RETURN(auto starts, desc.intsInput(1));
  KILN_ASSIGN_OR_RETURN(auto ends, desc.intsInput(2));
  std::vector<int64_t> axes, steps(starts.size(), 1);
  for (size_t i = 0; i < starts.size(); ++i)
    axes.push_back(static_cast<int64_t>(i));
  if (desc.hasInput(3)) {
    KILN_ASSIGN_OR_RETURN(axes, desc.intsInput(3));
  }
  if (desc.hasInput(4)) {
    KILN_ASSIGN_OR_RETURN(steps, desc.intsInput(4));
  }
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return layerError(desc, "starts, ends, axes and steps must have the same length");
  for (int64_t s : steps)
    if (s == 0) return layerError(desc, "steps must not be 0");
  return makeKernel<SliceKernel>(desc, std::move(starts), std::move(ends), std::move(axes),
                                 std::move(steps));
}

Status supportsCopyConcatenation(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireSameDtypes(desc));
  for (size_t k = 0; k < desc.inputs.size(); ++k)
    if (!desc.hasInput(k) || desc.inputs[k].dtype != desc.inputs[0].dtype)
      return decline(desc, "every input must be present and of one dtype");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createCopyConcatenation(const LayerDesc& desc) {
  return makeKernel<PartsKernel>(desc);
}

Status supportsCopySplit(const LayerDesc& desc) {
  return requireSameDtypes(desc);
}

Expected<std::unique_ptr<Kernel>> createCopySplit(const LayerDesc& desc) {
  return makeKernel<PartsKernel>(desc);
}

}  // namespace kiln::cpu
