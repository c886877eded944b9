// kiln — reference Gather in its three ONNX forms: Gather (take along an axis), GatherElements
// (per-element index along an axis) and GatherND (index tuples, with batch dims).
//
// Data of any dtype is moved by element size; indices are i32 or i64, may be negative (counted
// from the end), and an index out of range is a runtime error naming the layer, never an
// out-of-bounds read.
#include <cstring>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

using ref::Strides;

class GatherKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const auto& a = attrs<GatherAttrs>();
    const Dims& data = in_[0].dims;
    const Dims& idx = in_[1].dims;
    const Dims& y = out_[0].dims;
    const int64_t rank = static_cast<int64_t>(data.size());
    const std::string shapes =
        "data" + dimsToString(data) + ", indices" + dimsToString(idx) + ", y" + dimsToString(y);
    Dims expect;
    if (a.mode == GatherMode::kND) {
      const int64_t b = a.batchDims, q = static_cast<int64_t>(idx.size());
      if (q < 1 || b < 0 || b >= std::min(q, rank + 1))
        return layerError(desc_, "bad batch_dims " + std::to_string(b) + " (" + shapes + ")");
      const int64_t k = idx.back();
      if (k < 1 || b + k > rank)
        return layerError(desc_, "index tuples are too long (" + shapes + ")");
      for (int64_t d = 0; d < b; ++d)
        if (idx[static_cast<size_t>(d)] != data[static_cast<size_t>(d)])
          return layerError(desc_, "batch dims differ (" + shapes + ")");
      expect.assign(idx.begin(), idx.end() - 1);
      expect.insert(expect.end(), data.begin() + b + k, data.end());
    } else {
      if (rank < 1) return layerError(desc_, "data must have rank >= 1 (" + shapes + ")");
      KILN_ASSIGN_OR_RETURN(axis_, normalizeAxis(desc_, a.axis, rank));
      const size_t ax = static_cast<size_t>(axis_);
      if (a.mode == GatherMode::kDefault) {
        expect.assign(data.begin(), data.begin() + axis_);
        expect.insert(expect.end(), idx.begin(), idx.end());
        expect.insert(expect.end(), data.begin() + axis_ + 1, data.end());
      } else {
        if (idx.size() != data.size())
          return layerError(desc_, "indices must have the rank of data (" + shapes + ")");
        for (size_t d = 0; d < idx.size(); ++d)
          if (d != ax && idx[d] > data[d])
            return layerError(desc_, "indices dims exceed data dims (" + shapes + ")");
        expect = idx;
      }
    }
    if (expect != y) return layerError(desc_, "unexpected output dims (" + shapes + ")");
    return Status::ok();
  }

  /// Index i of the indices input, made non-negative against `dim`; error when out of range.
  template <class I>
  Expected<int64_t> index(int64_t i, int64_t dim) const {
    int64_t v = static_cast<int64_t>(in<I>(1)[i]);
    if (v < 0) v += dim;
    if (v < 0 || v >= dim)
      return layerError(desc_, "index " + std::to_string(in<I>(1)[i]) +
                                   " is out of range for a dim of size " + std::to_string(dim));
    return v;
  }

  template <class I>
  Status gatherDefault() {
    const Dims& data = in_[0].dims;
    const size_t ax = static_cast<size_t>(axis_);
    const int64_t outer = ref::volumeOf(data, 0, ax), dim = data[ax];
    const size_t chunk =
        static_cast<size_t>(ref::volumeOf(data, ax + 1, data.size())) * dataTypeSize(in_[0].dtype);
    const int64_t n = volume(in_[1].dims);
    if (chunk == 0 || n == 0) return Status::ok();
    const char* src = static_cast<const char*>(in<void>(0));
    char* dst = static_cast<char*>(out<void>(0));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t t = 0; t < n; ++t) {
        KILN_ASSIGN_OR_RETURN(int64_t i, index<I>(t, dim));
        std::memcpy(dst + static_cast<size_t>(o * n + t) * chunk,
                    src + static_cast<size_t>(o * dim + i) * chunk, chunk);
      }
    }
    return Status::ok();
  }

  template <class I>
  Status gatherElements() {
    const Dims& idx = in_[1].dims;
    const size_t ax = static_cast<size_t>(axis_);
    const int64_t dim = in_[0].dims[ax];
    Strides dataStrides = ref::contiguousStrides(in_[0].dims);
    const int64_t axisStride = dataStrides[ax];
    dataStrides[ax] = 0;  // the axis coordinate comes from the index value instead
    Status status;
    KILN_RETURN_IF_ERROR(ref::dispatchElementSize(dataTypeSize(in_[0].dtype), [&](auto word) {
      using W = decltype(word);
      const W* src = in<W>(0);
      W* dst = out<W>(0);
      ref::forEachRow<2>(idx, {ref::contiguousStrides(idx), dataStrides},
                         [&](const auto& off, int64_t len, const auto& st) {
                           for (int64_t j = 0; j < len && status.isOk(); ++j) {
                             const int64_t t = off[0] + j * st[0];
                             auto i = index<I>(t, dim);
                             if (!i) {
                               status = i.status();
                               return;
                             }
                             dst[t] = src[off[1] + j * st[1] + *i * axisStride];
                           }
                         });
      return Status::ok();
    }));
    return status;
  }

  template <class I>
  Status gatherND() {
    const Dims& data = in_[0].dims;
    const Dims& idx = in_[1].dims;
    const size_t b = static_cast<size_t>(attrs<GatherAttrs>().batchDims);
    const size_t k = static_cast<size_t>(idx.back());
    const int64_t batches = ref::volumeOf(data, 0, b);
    const int64_t tuples = ref::volumeOf(idx, b, idx.size() - 1);
    const int64_t batchStride = ref::volumeOf(data, b, data.size());
    const size_t elem = dataTypeSize(in_[0].dtype);
    const size_t chunk = static_cast<size_t>(ref::volumeOf(data, b + k, data.size())) * elem;
    const Strides ds = ref::contiguousStrides(data);
    if (volume(out_[0].dims) == 0) return Status::ok();
    const char* src = static_cast<const char*>(in<void>(0));
    char* dst = static_cast<char*>(out<void>(0));
    for (int64_t bi = 0; bi < batches; ++bi) {
      for (int64_t t = 0; t < tuples; ++t) {
        const int64_t tuple = (bi * tuples + t) * static_cast<int64_t>(k);
        int64_t off = bi * batchStride;
        for (size_t j = 0; j < k; ++j) {
          KILN_ASSIGN_OR_RETURN(int64_t i, index<I>(tuple + static_cast<int64_t>(j), data[b + j]));
          off += i * ds[b + j];
        }
        std::memcpy(dst + static_cast<size_t>(bi * tuples + t) * chunk,
                    src + static_cast<size_t>(off) * elem, chunk);
      }
    }
    return Status::ok();
  }

  Status compute() override {
    const GatherMode mode = attrs<GatherAttrs>().mode;
    return ref::dispatchType<int32_t, int64_t>(in_[1].dtype, [&](auto tag) {
      using I = decltype(tag);
      if (mode == GatherMode::kDefault) return gatherDefault<I>();
      if (mode == GatherMode::kElements) return gatherElements<I>();
      return gatherND<I>();
    });
  }

  int64_t axis_ = 0;
};

}  // namespace

Status supportsReferenceGather(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 1, {DataType::kInt32, DataType::kInt64}));
  return ref::requireOutputType(desc, 0, {desc.inputs[0].dtype});
}

Expected<std::unique_ptr<Kernel>> createReferenceGather(const LayerDesc& desc) {
  return ref::makeKernel<GatherKernel>(desc);
}

}  // namespace kiln
