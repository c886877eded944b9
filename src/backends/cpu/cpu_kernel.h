// kiln — the base class of the cpu backend's kernels and small shared helpers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/epilogue.h"
#include "ir/shape_inference.h"

namespace kiln::cpu {

/// Keeps its own copy of the layer (a kernel outlives the network it was built from), the descs
/// of the last reshape and the pointers of the last setup, and runs compute() inline.
/// Subclasses implement reshaped() (shape-dependent geometry; called on every reshape, so it
/// must reset everything it derives) and compute().
class CpuKernel : public Kernel {
 public:
  explicit CpuKernel(const LayerDesc& desc)
      : layer_(std::make_unique<Layer>(*desc.layer)), threads_(std::max(1, desc.threads)) {
    desc_ = desc;
    desc_.layer = layer_.get();
    epilogue_ = epilogueSpec(*layer_);
  }

 protected:
  template <class A>
  const A& attrs() const {
    return layer_->as<A>();
  }
  virtual Status reshaped() { return Status::ok(); }
  virtual Status compute() = 0;

  Status onReshape(const std::vector<TensorDesc>& inputs,
                   const std::vector<TensorDesc>& outputs) final {
    if (inputs.size() < desc_.inputs.size() || outputs.size() != desc_.outputs.size())
      return layerError(desc_, "reshape expected " + std::to_string(desc_.inputs.size()) +
                                   " input and " + std::to_string(desc_.outputs.size()) +
                                   " output descs");
    for (size_t k = 0; k < outputs.size(); ++k)
      if (outputs[k].dtype != desc_.outputs[k].dtype)
        return layerError(desc_, "reshape changed the dtype of output " + std::to_string(k));
    for (size_t k = 0; k < desc_.inputs.size(); ++k)
      if (desc_.hasInput(k) && inputs[k].dtype != desc_.inputs[k].dtype)
        return layerError(desc_, "reshape changed the dtype of input " + std::to_string(k));
    in_ = inputs;
    out_ = outputs;
    Status s = reshaped();
    if (!s.isOk()) return s;
    setWorkspaceBytes(workspaceNeed_);
    return Status::ok();
  }

  Status onSetup(const std::vector<const void*>& inputs, const std::vector<void*>& outputs,
                 void* workspace) final {
    if (inputs.size() < in_.size() || outputs.size() != out_.size())
      return layerError(desc_, "setup expected " + std::to_string(in_.size()) + " input and " +
                                   std::to_string(out_.size()) + " output pointers");
    for (size_t k = 0; k < in_.size(); ++k)
      if (desc_.hasInput(k) && inputs[k] == nullptr && in_[k].bytes() != 0)
        return layerError(desc_, "setup got a null pointer for input " + std::to_string(k));
    for (size_t k = 0; k < out_.size(); ++k)
      if (outputs[k] == nullptr && out_[k].bytes() != 0)
        return layerError(desc_, "setup got a null pointer for output " + std::to_string(k));
    inPtr_ = inputs;
    outPtr_ = outputs;
    workspace_ = workspace;
    return Status::ok();
  }

  /// compute(), then the layer's fused epilogue (epilogue.h) over output 0.
  Status onRun(Stream&) final {
    KILN_RETURN_IF_ERROR(compute());
    if (!epilogue_.any()) return Status::ok();
    const bool residual = epilogue_.residual != ResidualMode::kNone;
    return applyEpilogue(desc_, epilogue_, out<float>(0), out_[0].dims,
                         residual ? in<float>(3) : nullptr, residual ? in_[3].dims : Dims{},
                         threads_);
  }

  template <class T>
  const T* in(size_t k) const {
    return static_cast<const T*>(inPtr_[k]);
  }
  template <class T>
  T* out(size_t k) const {
    return static_cast<T*>(outPtr_[k]);
  }
  /// Scratch bytes for the current shapes; set in reshaped().
  void needWorkspace(size_t bytes) { workspaceNeed_ = bytes; }

  LayerDesc desc_;  ///< desc_.layer points at layer_
  std::vector<TensorDesc> in_, out_;
  std::vector<const void*> inPtr_;
  std::vector<void*> outPtr_;
  void* workspace_ = nullptr;

 private:
  std::unique_ptr<Layer> layer_;
  EpilogueSpec epilogue_;

 protected:
  const int threads_;

 private:
  size_t workspaceNeed_ = 0;
};

/// Wraps a freshly made kernel as the Expected that create functions return.
template <class K, class... Args>
Expected<std::unique_ptr<Kernel>> makeKernel(Args&&... args) {
  return std::unique_ptr<Kernel>(std::make_unique<K>(std::forward<Args>(args)...));
}

/// A fast tactic made of two functions (supports, create) and a name.
class FunctionTactic final : public Tactic {
 public:
  using SupportsFn = Status (*)(const LayerDesc&);
  using CreateFn = Expected<std::unique_ptr<Kernel>> (*)(const LayerDesc&);
  FunctionTactic(std::string name, LayerKind kind, SupportsFn supports, CreateFn create)
      : name_(std::move(name)), kind_(kind), supports_(supports), create_(create) {}
  const std::string& name() const override { return name_; }
  LayerKind kind() const override { return kind_; }
  Status supports(const LayerDesc& desc) const override {
    if (desc.layer == nullptr || desc.kind() != kind_)
      return unsupported(name_ + " implements " + layerKindName(kind_) + " layers only");
    // Every conv / matmul kernel runs the layer's epilogue after its own result (CpuKernel).
    KILN_RETURN_IF_ERROR(supportsEpilogue(desc));
    return supports_(desc);
  }
  Expected<std::unique_ptr<Kernel>> create(const LayerDesc& desc) const override {
    KILN_RETURN_IF_ERROR(supports(desc));
    return create_(desc);
  }

 private:
  std::string name_;
  LayerKind kind_;
  SupportsFn supports_;
  CreateFn create_;
};

/// An Unsupported status "<what>" naming the layer (the reason a fast tactic declines).
inline Status decline(const LayerDesc& desc, const std::string& what) {
  return unsupported("layer '" + desc.name() + "' (" + layerKindName(desc.kind()) + "): " + what);
}

/// Ok when every present input and every output is f32.
inline Status requireAllF32(const LayerDesc& desc) {
  for (size_t k = 0; k < desc.inputs.size(); ++k)
    if (desc.hasInput(k) && desc.inputs[k].dtype != DataType::kFloat32)
      return decline(desc, "input " + std::to_string(k) + " is " +
                               dataTypeName(desc.inputs[k].dtype) + ", not f32");
  for (size_t k = 0; k < desc.outputs.size(); ++k)
    if (desc.outputs[k].dtype != DataType::kFloat32)
      return decline(desc, "output " + std::to_string(k) + " is not f32");
  return Status::ok();
}

/// Ok when this machine runs the AVX2 kernels.
inline Status requireAvx2(const LayerDesc& desc) {
  if (hostCpuIsa() < CpuIsa::kAvx2) return decline(desc, "this CPU has no AVX2/FMA");
  return Status::ok();
}

}  // namespace kiln::cpu
