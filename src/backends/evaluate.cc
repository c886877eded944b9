#include "backends/evaluate.h"

#include <memory>

#include "backends/reference/reference.h"

namespace kiln {

Expected<std::vector<Weights>> BackendEvaluator::evaluate(const LayerDesc& desc) const {
  if (backend_.memorySpace() != MemorySpace::kHost)
    return internalError("constant evaluation needs a host backend, '" + backend_.name() +
                         "' keeps its tensors on a device");
  auto tactics = backend_.tactics(desc);
  if (tactics.empty()) return backend_.supports(desc);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> kernel, tactics[0]->create(desc));
  KILN_RETURN_IF_ERROR(kernel->reshape(desc.inputs, desc.outputs));
  std::vector<const void*> in;
  for (size_t k = 0; k < desc.inputs.size(); ++k)
    in.push_back(desc.constantInputs[k] ? desc.constantInputs[k]->data() : nullptr);
  std::vector<Weights> outs;
  std::vector<void*> outPtrs;
  for (const TensorDesc& o : desc.outputs) {
    KILN_ASSIGN_OR_RETURN(Weights w, Weights::zeros(o.dtype, o.dims, "folded " + desc.name()));
    outs.push_back(std::move(w));
    outPtrs.push_back(outs.back().mutableData());
  }
  KILN_ASSIGN_OR_RETURN(
      Weights workspace,
      Weights::zeros(DataType::kUInt8, {static_cast<int64_t>(kernel->workspaceBytes())},
                     "workspace of " + desc.name()));
  KILN_RETURN_IF_ERROR(kernel->setup(in, outPtrs, workspace.mutableData()));
  auto stream = backend_.createStream();
  KILN_RETURN_IF_ERROR(kernel->run(*stream));
  KILN_RETURN_IF_ERROR(stream->synchronize());
  return outs;
}

Expected<std::vector<Weights>> evaluateOnReference(const LayerDesc& desc) {
  return BackendEvaluator(referenceBackend()).evaluate(desc);
}

}  // namespace kiln
