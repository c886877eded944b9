#include "backends/cpu/onednn.h"

#include "ir/shape_inference.h"

namespace kiln::cpu {

const dnnl::engine& dnnlEngine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::memory::desc plainDesc(const Dims& dims) {
  Dims d = dims.empty() ? Dims{1} : dims;
  Dims strides(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;)
    strides[i - 1] = strides[i] * d[i];
  return stridedDesc(d, strides);
}

dnnl::memory::desc stridedDesc(const Dims& dims, const Dims& strides) {
  return dnnl::memory::desc(dnnl::memory::dims(dims.begin(), dims.end()),
                            dnnl::memory::data_type::f32,
                            dnnl::memory::dims(strides.begin(), strides.end()));
}

Expected<dnnl::post_ops> makePostOps(const std::vector<PostOp>& ops) {
  using A = dnnl::algorithm;
  dnnl::post_ops po;
  for (const PostOp& op : ops) {
    if (op.kind == PostOp::Kind::kSum) {
      po.append_sum(op.scale);
      continue;
    }
    switch (op.activation) {
      case ActivationKind::kRelu:
        po.append_eltwise(A::eltwise_relu, 0.0f, 0.0f);
        break;
      case ActivationKind::kLeakyRelu:
        po.append_eltwise(A::eltwise_relu, op.alpha, 0.0f);
        break;
      case ActivationKind::kClip:
        po.append_eltwise(A::eltwise_clip, op.alpha, op.beta);
        break;
      case ActivationKind::kSigmoid:
        po.append_eltwise(A::eltwise_logistic, 0.0f, 0.0f);
        break;
      case ActivationKind::kTanh:
        po.append_eltwise(A::eltwise_tanh, 0.0f, 0.0f);
        break;
      case ActivationKind::kElu:
        po.append_eltwise(A::eltwise_elu, op.alpha, 0.0f);
        break;
      case ActivationKind::kGeluErf:
        po.append_eltwise(A::eltwise_gelu_erf, 0.0f, 0.0f);
        break;
      case ActivationKind::kGeluTanh:
        po.append_eltwise(A::eltwise_gelu_tanh, 0.0f, 0.0f);
        break;
      case ActivationKind::kHardSigmoid:
        po.append_eltwise(A::eltwise_hardsigmoid, op.alpha, op.beta);
        break;
      case ActivationKind::kHardSwish:  // x * max(0, min(1, x / 6 + 0.5))
        po.append_eltwise(A::eltwise_hardswish, 1.0f / 6.0f, 0.5f);
        break;
      case ActivationKind::kSoftplus:
        po.append_eltwise(A::eltwise_soft_relu, 1.0f, 0.0f);
        break;
      default:
        return unsupported(std::string("oneDNN has no post-op for activation '") +
                           enumName(op.activation) + "'");
    }
  }
  return po;
}

Status dnnlError(const LayerDesc& desc, const dnnl::error& e, const std::string& during) {
  return unsupported("layer '" + desc.name() + "' (" + layerKindName(desc.kind()) +
                     "): oneDNN failed " + during + ": " + e.what());
}

}  // namespace kiln::cpu
