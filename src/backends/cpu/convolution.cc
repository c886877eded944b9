// kiln — cpu Convolution tactics, all on NCHW tensors (the IR's layout):
//   cpu.convolution.onednn.f32          oneDNN on plain NCHW src/dst, weights packed once
//   cpu.convolution.onednn.f32.blocked  oneDNN in its preferred (blocked) src/dst layout, with
//                                       reorders in and out through the workspace
//   cpu.convolution.pointwise_gemm.f32  1x1 / stride 1 / no pad: y[n] = W @ x[n] as one GEMM
//                                       per image (oneDNN sgemm), then bias
//   cpu.convolution.depthwise3x3.f32.avx2  3x3 depthwise, stride 1 or 2, pads <= 1: our own
//                                       kernel over a zero-padded copy of each input plane
// The builder times the ones that support a layer and keeps the fastest.
#include <algorithm>
#include <cstring>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernels_avx2.h"
#include "backends/cpu/onednn.h"
#include "backends/cpu/parallel.h"
#include "backends/cpu/post_op_hooks.h"

namespace kiln::cpu {
namespace {

/// Shapes and resolved geometry of a 2-D (or 1-D / 3-D) convolution.
struct ConvGeometry {
  Dims x, w, y;
  WindowGeometry g;
};

Expected<ConvGeometry> convGeometry(const LayerDesc& desc, const std::vector<TensorDesc>& in,
                                    const std::vector<TensorDesc>& out) {
  const auto& a = desc.layer->as<ConvolutionAttrs>();
  ConvGeometry c{in[0].dims, in[1].dims, out[0].dims, {}};
  const std::string shapes =
      "x" + dimsToString(c.x) + ", w" + dimsToString(c.w) + ", y" + dimsToString(c.y);
  if (c.x.size() < 3 || c.x.size() > 5 || c.w.size() != c.x.size() || c.y.size() != c.x.size())
    return decline(desc, "needs 1 to 3 spatial dims and matching ranks (" + shapes + ")");
  if (a.group < 1 || c.x[1] % a.group != 0 || c.w[0] % a.group != 0 || c.w[1] * a.group != c.x[1] ||
      c.y[1] != c.w[0] || c.y[0] != c.x[0])
    return layerError(desc, "channels do not match (" + shapes + ")");
  const Dims kernel(c.w.begin() + 2, c.w.end());
  KILN_ASSIGN_OR_RETURN(c.g, resolveWindow(desc, kernel, a.strides, a.dilations, a.padsBegin,
                                           a.padsEnd, a.padding, false, c.x));
  const size_t s = c.x.size() - 2;
  auto fill = [s](std::vector<int64_t>& v, int64_t d) {
    if (v.size() != s) v.assign(s, d);
  };
  fill(c.g.strides, 1);
  fill(c.g.dilations, 1);
  fill(c.g.padsBegin, 0);
  fill(c.g.padsEnd, 0);
  return c;
}

Status requireConstantWeights(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAllF32(desc));
  if (!desc.hasInput(0) || !desc.hasInput(1)) return decline(desc, "x and w are required");
  if (desc.constantInputs.size() < 2 || desc.constantInputs[1] == nullptr)
    return decline(desc, "weights are not a build-time constant");
  if (desc.hasInput(2) && (desc.constantInputs.size() < 3 || desc.constantInputs[2] == nullptr))
    return decline(desc, "bias is not a build-time constant");
  return Status::ok();
}

// ---- oneDNN ---------------------------------------------------------------------------------

class OnednnConvKernel final : public CpuKernel {
 public:
  OnednnConvKernel(const LayerDesc& desc, std::vector<PostOp> postOps, bool blocked)
      : CpuKernel(desc), postOps_(std::move(postOps)), blocked_(blocked) {}

 private:
  Status reshaped() override {
    KILN_ASSIGN_OR_RETURN(ConvGeometry c, convGeometry(desc_, in_, out_));
    const int64_t group = attrs<ConvolutionAttrs>().group;
    using md = dnnl::memory::desc;
    using tag = dnnl::memory::format_tag;
    const auto f32 = dnnl::memory::data_type::f32;
    auto dims = [](const Dims& d) { return dnnl::memory::dims(d.begin(), d.end()); };
    Dims wd = c.w;
    if (group > 1) {
      wd[0] = c.w[0] / group;
      wd.insert(wd.begin(), group);
    }
    md xUser = plainDesc(c.x), yUser = plainDesc(c.y), wUser = plainDesc(wd);
    md xMd = blocked_ ? md(dims(c.x), f32, tag::any) : xUser;
    md yMd = blocked_ ? md(dims(c.y), f32, tag::any) : yUser;
    md wMd(dims(wd), f32, tag::any);
    dnnl::memory::dims strides(c.g.strides.begin(), c.g.strides.end());
    dnnl::memory::dims dil, pl(c.g.padsBegin.begin(), c.g.padsBegin.end()),
        pr(c.g.padsEnd.begin(), c.g.padsEnd.end());
    for (int64_t d : c.g.dilations)
      dil.push_back(d - 1);  // oneDNN counts dilation from 0
    hasBias_ = desc_.hasInput(2);
    md biasMd = hasBias_ ? plainDesc({c.w[0]}) : md();
    KILN_ASSIGN_OR_RETURN(dnnl::post_ops po, makePostOps(postOps_));
    double macs = static_cast<double>(volume(c.y)) * static_cast<double>(volume(c.w)) /
                  static_cast<double>(c.w[0]);
    runThreads_ = threadsFor(threads_, macs, kMacsPerThread);
    try {
      useThreads(runThreads_);
      dnnl::primitive_attr attr;
      attr.set_post_ops(po);
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      pd_ = dnnl::convolution_forward::primitive_desc(
          dnnlEngine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
          xMd, wMd, biasMd, yMd, strides, dil, pl, pr, attr);
      prim_ = dnnl::convolution_forward(pd_);
      const auto& eng = dnnlEngine();
      // Workspace: [scratchpad | x in the primitive's layout | y in the primitive's layout].
      xReorder_ = !(pd_.src_desc() == xUser);
      yReorder_ = !(pd_.dst_desc() == yUser);
      auto align = [](size_t b) { return (b + 63) / 64 * 64; };
      scratchBytes_ = align(pd_.scratchpad_desc().get_size());
      xBytes_ = xReorder_ ? align(pd_.src_desc().get_size()) : 0;
      yBytes_ = yReorder_ ? align(pd_.dst_desc().get_size()) : 0;
      needWorkspace(scratchBytes_ + xBytes_ + yBytes_);
      xUserMem_ = dnnl::memory(xUser, eng, nullptr);
      yUserMem_ = dnnl::memory(yUser, eng, nullptr);
      xMem_ = dnnl::memory(pd_.src_desc(), eng, nullptr);
      yMem_ = dnnl::memory(pd_.dst_desc(), eng, nullptr);
      scratch_ = dnnl::memory(pd_.scratchpad_desc(), eng, nullptr);
      if (xReorder_) xToPrim_ = dnnl::reorder(xUserMem_, xMem_);
      if (yReorder_) yFromPrim_ = dnnl::reorder(yMem_, yUserMem_);
      if (!(packedDesc_ == pd_.weights_desc())) {
        dnnl::memory src(wUser, eng, const_cast<void*>(desc_.constantInputs[1]->data()));
        packed_ = dnnl::memory(pd_.weights_desc(), eng);
        dnnl::stream s(eng);
        dnnl::reorder(src, packed_).execute(s, src, packed_);
        s.wait();
        packedDesc_ = pd_.weights_desc();
      }
      if (hasBias_)
        bias_ = dnnl::memory(biasMd, eng, const_cast<void*>(desc_.constantInputs[2]->data()));
      if (!stream_) stream_ = std::make_unique<dnnl::stream>(eng);
    } catch (const dnnl::error& e) {
      return dnnlError(desc_, e, "creating the convolution primitive");
    }
    return Status::ok();
  }

  Status compute() override {
    useThreads(runThreads_);
    auto* ws = static_cast<uint8_t*>(workspace_);
    scratch_.set_data_handle(ws);
    xUserMem_.set_data_handle(const_cast<void*>(inPtr_[0]));
    yUserMem_.set_data_handle(outPtr_[0]);
    xMem_.set_data_handle(xReorder_ ? ws + scratchBytes_ : const_cast<void*>(inPtr_[0]));
    yMem_.set_data_handle(yReorder_ ? ws + scratchBytes_ + xBytes_ : outPtr_[0]);
    if (xReorder_) xToPrim_.execute(*stream_, xUserMem_, xMem_);
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, xMem_},
                                                  {DNNL_ARG_WEIGHTS, packed_},
                                                  {DNNL_ARG_DST, yMem_},
                                                  {DNNL_ARG_SCRATCHPAD, scratch_}};
    if (hasBias_) args[DNNL_ARG_BIAS] = bias_;
    prim_.execute(*stream_, args);
    if (yReorder_) yFromPrim_.execute(*stream_, yMem_, yUserMem_);
    stream_->wait();
    return Status::ok();
  }

  std::vector<PostOp> postOps_;
  bool blocked_ = false, hasBias_ = false, xReorder_ = false, yReorder_ = false;
  int runThreads_ = 1;  ///< threads for the current shape (threadsFor)
  size_t scratchBytes_ = 0, xBytes_ = 0, yBytes_ = 0;
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward prim_;
  dnnl::reorder xToPrim_, yFromPrim_;
  dnnl::memory::desc packedDesc_;
  dnnl::memory xUserMem_, yUserMem_, xMem_, yMem_, scratch_, packed_, bias_;
  std::unique_ptr<dnnl::stream> stream_;
};

// ---- pointwise as GEMM ----------------------------------------------------------------------

bool isPointwise(const ConvolutionAttrs& a, const Dims& w) {
  if (a.group != 1 || w.size() < 3) return false;
  for (size_t i = 2; i < w.size(); ++i)
    if (w[i] != 1) return false;
  for (int64_t s : a.strides)
    if (s != 1) return false;
  for (int64_t p : a.padsBegin)
    if (p != 0) return false;
  for (int64_t p : a.padsEnd)
    if (p != 0) return false;
  return a.padding == PaddingMode::kExplicit || a.padding == PaddingMode::kValid ||
         a.padding == PaddingMode::kSameUpper || a.padding == PaddingMode::kSameLower;
}

class PointwiseGemmKernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override {
    KILN_ASSIGN_OR_RETURN(ConvGeometry c, convGeometry(desc_, in_, out_));
    if (Dims(c.x.begin() + 2, c.x.end()) != Dims(c.y.begin() + 2, c.y.end()))
      return decline(desc_, "pointwise convolution must keep the spatial dims");
    n_ = c.x[0];
    c_ = c.x[1];
    m_ = c.y[1];
    hw_ = 1;
    for (size_t i = 2; i < c.x.size(); ++i)
      hw_ *= c.x[i];
    runThreads_ = threadsFor(threads_, static_cast<double>(m_) * c_ * hw_, kMacsPerThread);
    return Status::ok();
  }

  Status compute() override {
    useThreads(runThreads_);
    const float* w = static_cast<const float*>(desc_.constantInputs[1]->data());
    const float* bias =
        desc_.hasInput(2) ? static_cast<const float*>(desc_.constantInputs[2]->data()) : nullptr;
    for (int64_t b = 0; b < n_; ++b) {
      const float* x = in<float>(0) + b * c_ * hw_;
      float* y = out<float>(0) + b * m_ * hw_;
      if (dnnl::sgemm('N', 'N', m_, hw_, c_, 1.0f, w, c_, x, hw_, 0.0f, y, hw_) !=
          dnnl::status::success)
        return internalError("layer '" + desc_.name() + "': oneDNN sgemm failed");
      if (bias)
        parallelFor(runThreads_, m_, std::max<int64_t>(1, 16384 / std::max<int64_t>(hw_, 1)),
                    [&](int64_t lo, int64_t hi) {
                      for (int64_t o = lo; o < hi; ++o)
                        avx2::addScalar(y + o * hw_, hw_, bias[o]);
                    });
    }
    return Status::ok();
  }

  int64_t n_ = 0, c_ = 0, m_ = 0, hw_ = 0;
  int runThreads_ = 1;
};

// ---- depthwise 3x3 --------------------------------------------------------------------------

class Depthwise3x3Kernel final : public CpuKernel {
 public:
  using CpuKernel::CpuKernel;

 private:
  Status reshaped() override {
    KILN_ASSIGN_OR_RETURN(ConvGeometry c, convGeometry(desc_, in_, out_));
    if (c.x.size() != 4) return decline(desc_, "needs 2 spatial dims");
    const int64_t s = c.g.strides[0];
    if (c.g.strides[1] != s || (s != 1 && s != 2))
      return decline(desc_, "needs equal strides of 1 or 2");
    for (size_t i = 0; i < 2; ++i)
      if (c.g.padsBegin[i] > 1 || c.g.padsEnd[i] > 1 || c.g.padsBegin[i] < 0 || c.g.padsEnd[i] < 0)
        return decline(desc_, "needs pads of 0 or 1");
    n_ = c.x[0];
    ch_ = c.x[1];
    h_ = c.x[2];
    w_ = c.x[3];
    oh_ = c.y[2];
    ow_ = c.y[3];
    stride_ = static_cast<int>(s);
    padT_ = c.g.padsBegin[0];
    padL_ = c.g.padsBegin[1];
    // The padded plane covers every tap of every output, plus slack for 8-wide loads.
    ph_ = std::max(h_ + padT_, (oh_ - 1) * s + 3);
    pitch_ = std::max(w_ + padL_, (ow_ - 1) * s + 3) + 24;
    planeBytes_ = static_cast<size_t>(ph_ * pitch_) * sizeof(float);
    needWorkspace(planeBytes_ * static_cast<size_t>(threads_));
    return Status::ok();
  }

  Status compute() override {
    const float* w = static_cast<const float*>(desc_.constantInputs[1]->data());
    const float* bias =
        desc_.hasInput(2) ? static_cast<const float*>(desc_.constantInputs[2]->data()) : nullptr;
    const float* x = in<float>(0);
    float* y = out<float>(0);
    auto* ws = static_cast<uint8_t*>(workspace_);
    const int64_t planes = n_ * ch_;
    const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(oh_ * ow_, 1));
    const int chunks =
        static_cast<int>(std::min<int64_t>(threads_, std::max<int64_t>(1, planes / grain)));
    parallelFor(chunks, chunks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        float* pad = reinterpret_cast<float*>(ws + static_cast<size_t>(t) * planeBytes_);
        std::memset(pad, 0, planeBytes_);
        const int64_t p0 = planes * t / chunks, p1 = planes * (t + 1) / chunks;
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t ch = p % ch_;
          const float* src = x + p * h_ * w_;
          for (int64_t r = 0; r < h_; ++r)
            std::memcpy(pad + (r + padT_) * pitch_ + padL_, src + r * w_, w_ * sizeof(float));
          avx2::depthwise3x3(pad, pitch_, w + ch * 9, bias ? bias[ch] : 0.0f, y + p * oh_ * ow_,
                             oh_, ow_, stride_);
        }
      }
    });
    return Status::ok();
  }

  int64_t n_ = 0, ch_ = 0, h_ = 0, w_ = 0, oh_ = 0, ow_ = 0, padT_ = 0, padL_ = 0, ph_ = 0,
          pitch_ = 0;
  int stride_ = 1;
  size_t planeBytes_ = 0;
};

}  // namespace

Status supportsOnednnConvolution(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireConstantWeights(desc));
  return convGeometry(desc, desc.inputs, desc.outputs).status();
}

Expected<std::unique_ptr<Kernel>> createOnednnConvolution(const LayerDesc& desc) {
  return makeKernel<OnednnConvKernel>(desc, std::vector<PostOp>{}, false);
}

Expected<std::unique_ptr<Kernel>> createOnednnConvolutionBlocked(const LayerDesc& desc) {
  return makeKernel<OnednnConvKernel>(desc, std::vector<PostOp>{}, true);
}

Expected<std::unique_ptr<Kernel>> createOnednnConvolutionWithPostOps(const LayerDesc& desc,
                                                                     std::vector<PostOp> postOps,
                                                                     bool blocked) {
  KILN_RETURN_IF_ERROR(supportsOnednnConvolution(desc));
  return makeKernel<OnednnConvKernel>(desc, std::move(postOps), blocked);
}

Status supportsPointwiseGemmConvolution(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireConstantWeights(desc));
  KILN_RETURN_IF_ERROR(convGeometry(desc, desc.inputs, desc.outputs).status());
  if (!isPointwise(desc.layer->as<ConvolutionAttrs>(), desc.inputs[1].dims))
    return decline(desc, "not a 1x1, stride 1, unpadded, ungrouped convolution");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createPointwiseGemmConvolution(const LayerDesc& desc) {
  return makeKernel<PointwiseGemmKernel>(desc);
}

Status supportsDepthwise3x3Convolution(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(requireAvx2(desc));
  KILN_RETURN_IF_ERROR(requireConstantWeights(desc));
  KILN_ASSIGN_OR_RETURN(ConvGeometry c, convGeometry(desc, desc.inputs, desc.outputs));
  const auto& a = desc.layer->as<ConvolutionAttrs>();
  if (c.x.size() != 4 || a.group != c.x[1] || c.w[0] != c.x[1] || c.w[1] != 1 || c.w[2] != 3 ||
      c.w[3] != 3)
    return decline(desc, "not a 3x3 depthwise convolution with one filter per channel");
  for (int64_t d : c.g.dilations)
    if (d != 1) return decline(desc, "dilated");
  const int64_t s = c.g.strides[0];
  if (c.g.strides[1] != s || (s != 1 && s != 2)) return decline(desc, "stride is not 1 or 2");
  for (size_t i = 0; i < 2; ++i)
    if (c.g.padsBegin[i] < 0 || c.g.padsBegin[i] > 1 || c.g.padsEnd[i] < 0 || c.g.padsEnd[i] > 1)
      return decline(desc, "pads are not 0 or 1");
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createDepthwise3x3Convolution(const LayerDesc& desc) {
  return makeKernel<Depthwise3x3Kernel>(desc);
}

}  // namespace kiln::cpu
