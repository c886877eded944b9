// kiln — reference Fill (ONNX Range) and ShapeOf: outputs computed from parameters and shapes,
// not from input data.
#include <algorithm>
#include <cstring>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

// ---- Fill: output[i] = start + i * delta, for as many elements as the output has ----------

class FillKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    if (out_[0].dims.size() != 1) return layerError(desc_, "output must be 1-D");
    // start and delta may be run-time values: read them for these shapes.
    const bool isFloat = ref::isOneOf(out_[0].dtype, {DataType::kFloat32, DataType::kFloat64});
    for (size_t k : {size_t{0}, size_t{2}}) {
      KILN_ASSIGN_OR_RETURN(auto doubles, paramDoubles(k));
      if (doubles.size() != 1) return layerError(desc_, "start, limit and delta must be scalars");
      (k == 0 ? start_ : delta_) = doubles[0];
      if (!isFloat) {
        KILN_ASSIGN_OR_RETURN(auto ints, paramInts(k));
        (k == 0 ? istart_ : idelta_) = ints[0];
      }
    }
    return Status::ok();
  }

  Status compute() override {
    const int64_t n = out_[0].dims[0];
    return ref::dispatchType<KILN_REF_ARITH_TYPES>(out_[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      T* y = out<T>(0);
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_floating_point_v<T>) {
          // ONNX Range: start + i * delta, computed in the output type.
          y[i] =
              static_cast<T>(static_cast<T>(start_) + static_cast<T>(i) * static_cast<T>(delta_));
        } else {
          // Wrapping arithmetic through uint64 (never undefined behaviour).
          y[i] = static_cast<T>(static_cast<uint64_t>(istart_) +
                                static_cast<uint64_t>(i) * static_cast<uint64_t>(idelta_));
        }
      }
      return Status::ok();
    });
  }

  double start_ = 0, delta_ = 0;
  int64_t istart_ = 0, idelta_ = 0;
};

// ---- ShapeOf: int64 dims[start:end] of the input ------------------------------------------

class ShapeOfKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const auto& a = attrs<ShapeOfAttrs>();
    const int64_t rank = static_cast<int64_t>(in_[0].dims.size());
    auto clampIndex = [rank](int64_t i) {
      if (i < 0) i += rank;
      return std::clamp<int64_t>(i, 0, rank);
    };
    begin_ = clampIndex(a.start);
    end_ = std::max(begin_, clampIndex(a.end));
    if (out_[0].dims != Dims{end_ - begin_})
      return layerError(desc_, "output dims " + dimsToString(out_[0].dims) + " do not match [" +
                                   std::to_string(end_ - begin_) + "]");
    return Status::ok();
  }

  Status compute() override {
    int64_t* y = out<int64_t>(0);
    for (int64_t i = begin_; i < end_; ++i)
      y[i - begin_] = in_[0].dims[static_cast<size_t>(i)];
    return Status::ok();
  }

  int64_t begin_ = 0, end_ = 0;
};

}  // namespace

Status supportsReferenceFill(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 3));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  return ref::requireOutputType(
      desc, 0, {DataType::kFloat32, DataType::kFloat64, DataType::kInt32, DataType::kInt64});
}

Expected<std::unique_ptr<Kernel>> createReferenceFill(const LayerDesc& desc) {
  return ref::makeKernel<FillKernel>(desc);
}

Status supportsReferenceShapeOf(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  return ref::requireOutputType(desc, 0, {DataType::kInt64});
}

Expected<std::unique_ptr<Kernel>> createReferenceShapeOf(const LayerDesc& desc) {
  return ref::makeKernel<ShapeOfKernel>(desc);
}

}  // namespace kiln
