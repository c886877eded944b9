// kiln — reference Constant: copies the layer's weights into its output.
#include <cstring>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

class ConstantKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Weights& w = attrs<ConstantAttrs>().value;
    if (out_[0].dtype != w.dtype() || out_[0].bytes() != w.bytes())
      return layerError(desc_, "output " + std::string(dataTypeName(out_[0].dtype)) +
                                   dimsToString(out_[0].dims) + " does not match the weights " +
                                   dataTypeName(w.dtype()) + dimsToString(w.dims()));
    return Status::ok();
  }

  Status compute() override {
    const Weights& w = attrs<ConstantAttrs>().value;
    if (w.bytes() != 0) std::memcpy(out<void>(0), w.data(), w.bytes());
    return Status::ok();
  }
};

}  // namespace

Status supportsReferenceConstant(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  const Weights& w = desc.layer->as<ConstantAttrs>().value;
  if (w.bytes() != 0 && w.data() == nullptr) return layerError(desc, "weights have no data");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createReferenceConstant(const LayerDesc& desc) {
  return ref::makeKernel<ConstantKernel>(desc);
}

}  // namespace kiln

namespace kiln {

// A SymbolicConstant has no kernel: the runtime evaluates its values when input shapes are set
// (like a Constant, it is never executed).
Status supportsReferenceSymbolicConstant(const LayerDesc& desc) {
  return unsupported("layer '" + desc.name() +
                     "' (SymbolicConstant) is evaluated when input shapes are set, not executed");
}

Expected<std::unique_ptr<Kernel>> createReferenceSymbolicConstant(const LayerDesc& desc) {
  return supportsReferenceSymbolicConstant(desc);
}

}  // namespace kiln
