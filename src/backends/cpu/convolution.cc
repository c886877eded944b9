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
  ConcreteWindow g;
};

Expected<ConvGeometry> convGeometry(const LayerDesc& desc, const std::vector<TensorDesc>& in,
                                    const std::vector<TensorDesc>& out) {
  const auto& a = desc.layer->as<ConvolutionAttrs>();
  // Every cpu convolution kernel computes the forward convolution: a transposed one runs on
  // the reference backend.
  if (a.transposed) return decline(desc, "transposed convolution has no cpu kernel");
  ConvGeometry c{in[0].dims, in[1].dims, out[0].dims, {}};
  const std::string shapes =
      "x" + dimsToString(c.x) + ", w" + dimsToString(c.w) + ", y" + dimsToString(c.y);
  if (c.x.size() < 3 || c.x.size() > 5 || c.w.size() != c.x.size() || c.y.size() != c.x.size())
    return decline(desc, "needs 1 to 3 spatial dims and matching ranks (" + shapes + ")");
  if (a.group < 1 || c.x[1] % a.group != 0 || c.w[0] % a.group != 0 || c.w[1] * a.group != c.x[1] ||
      c.y[1] != c.w[0] || c.y[0] != c.x[0])
    return layerError(desc, "channels do not match (" + shapes + ")");
  const Dims kernel(c.w.begin() + 2, c.w.end());
  KILN_ASSIGN_OR_RETURN(c.g, resolveConcreteWindow(desc, kernel, a.strides, a.dilations,
                                                   a.padsBegin, a.padsEnd, a.padding, false, c.x));
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

/// One oneDNN convolution over the whole batch or, when the batch splits over the threads,
/// over equal slices of it (oneDNN runs single-threaded inside kiln's pool). A variant is the
/// primitive for one slice size; a part is one slice with its own memory objects, stream and
/// workspace region.
class OnednnConvKernel final : public CpuKernel {
 public:
  OnednnConvKernel(const LayerDesc& desc, std::vector<PostOp> postOps, bool blocked)
      : CpuKernel(desc), postOps_(std::move(postOps)), blocked_(blocked) {}

 private:
  struct Variant {
    int64_t batch = 0;
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward prim;
    dnnl::reorder xToPrim, yFromPrim;
    bool xReorder = false, yReorder = false;
    size_t scratchBytes = 0, xBytes = 0, yBytes = 0;
    dnnl::memory::desc packedDesc;
    dnnl::memory packed;
  };
  struct Part {
    int64_t n0 = 0;
    size_t variant = 0;
    size_t wsOffset = 0;
    dnnl::memory xUser, yUser, x, y, scratch;
    std::unique_ptr<dnnl::stream> stream;
  };

  Status makeVariant(const ConvGeometry& c, int64_t batch, Variant& v) {
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
    Dims x = c.x, y = c.y;
    x[0] = y[0] = batch;
    md xUser = plainDesc(x), yUser = plainDesc(y), wUser = plainDesc(wd);
    md xMd = blocked_ ? md(dims(x), f32, tag::any) : xUser;
    md yMd = blocked_ ? md(dims(y), f32, tag::any) : yUser;
    md wMd(dims(wd), f32, tag::any);
    dnnl::memory::dims strides(c.g.strides.begin(), c.g.strides.end());
    dnnl::memory::dims dil, pl(c.g.padsBegin.begin(), c.g.padsBegin.end()),
        pr(c.g.padsEnd.begin(), c.g.padsEnd.end());
    for (int64_t d : c.g.dilations)
      dil.push_back(d - 1);  // oneDNN counts dilation from 0
    md biasMd = hasBias_ ? plainDesc({c.w[0]}) : md();
    KILN_ASSIGN_OR_RETURN(dnnl::post_ops po, makePostOps(postOps_));
    try {
      dnnl::primitive_attr attr;
      attr.set_post_ops(po);
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      v.batch = batch;
      v.pd = dnnl::convolution_forward::primitive_desc(
          dnnlEngine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
          xMd, wMd, biasMd, yMd, strides, dil, pl, pr, attr);
      v.prim = dnnl::convolution_forward(v.pd);
      const auto& eng = dnnlEngine();
      v.xReorder = !(v.pd.src_desc() == xUser);
      v.yReorder = !(v.pd.dst_desc() == yUser);
      auto align = [](size_t b) { return (b + 63) / 64 * 64; };
      v.scratchBytes = align(v.pd.scratchpad_desc().get_size());
      v.xBytes = v.xReorder ? align(v.pd.src_desc().get_size()) : 0;
      v.yBytes = v.yReorder ? align(v.pd.dst_desc().get_size()) : 0;
      if (v.xReorder)
        v.xToPrim = dnnl::reorder(dnnl::memory(xUser, eng, nullptr),
                                  dnnl::memory(v.pd.src_desc(), eng, nullptr));
      if (v.yReorder)
        v.yFromPrim = dnnl::reorder(dnnl::memory(v.pd.dst_desc(), eng, nullptr),
                                    dnnl::memory(yUser, eng, nullptr));
      if (!(v.packedDesc == v.pd.weights_desc())) {  // pack once per layout
        dnnl::memory src(wUser, eng, const_cast<void*>(desc_.constantInputs[1]->data()));
        v.packed = dnnl::memory(v.pd.weights_desc(), eng);
        dnnl::stream s(eng);
        dnnl::reorder(src, v.packed).execute(s, src, v.packed);
        s.wait();
        v.packedDesc = v.pd.weights_desc();
      }
    } catch (const dnnl::error& e) {
      return dnnlError(desc_, e, "creating the convolution primitive");
    }
    return Status::ok();
  }

  Status reshaped() override {
    KILN_ASSIGN_OR_RETURN(ConvGeometry c, convGeometry(desc_, in_, out_));
    useOneDnnThreadCount();
    hasBias_ = desc_.hasInput(2);
    const int64_t n = c.x[0];
    parts_.clear();
    if (n == 0) return Status::ok();
    const double macs = static_cast<double>(volume(c.y)) * static_cast<double>(volume(c.w)) /
                        static_cast<double>(c.w[0]);
    const int64_t slices = std::min<int64_t>(n, threadsFor(threads_, macs, kMacsPerThread));
    const int64_t per = n == 0 ? 0 : (n + slices - 1) / std::max<int64_t>(slices, 1);
    // Slice sizes: `per`, and the remainder if any (at most two primitives).
    std::vector<int64_t> sizes;
    for (int64_t n0 = 0; n0 < n; n0 += per)
      sizes.push_back(std::min(per, n - n0));
    variants_.resize(2);
    size_t used = 0;
    std::vector<size_t> which;
    for (int64_t sz : sizes) {
      size_t v = 0;
      while (v < used && variants_[v].batch != sz)
        ++v;
      if (v == used) {
        KILN_RETURN_IF_ERROR(makeVariant(c, sz, variants_[v]));
        ++used;
      }
      which.push_back(v);
    }
    variants_.resize(used);
    const auto& eng = dnnlEngine();
    size_t ws = 0;
    xImage_ = volume(c.x) / n;
    yImage_ = volume(c.y) / n;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const Variant& v = variants_[which[i]];
      Part p;
      p.n0 = static_cast<int64_t>(i) * per;
      p.variant = which[i];
      p.wsOffset = ws;
      ws += v.scratchBytes + v.xBytes + v.yBytes;
      try {
        p.xUser = dnnl::memory(plainDescOf(c.x, v.batch), eng, nullptr);
        p.yUser = dnnl::memory(plainDescOf(c.y, v.batch), eng, nullptr);
        p.x = dnnl::memory(v.pd.src_desc(), eng, nullptr);
        p.y = dnnl::memory(v.pd.dst_desc(), eng, nullptr);
        p.scratch = dnnl::memory(v.pd.scratchpad_desc(), eng, nullptr);
        p.stream = std::make_unique<dnnl::stream>(eng);
      } catch (const dnnl::error& e) {
        return dnnlError(desc_, e, "creating memory objects");
      }
      parts_.push_back(std::move(p));
    }
    if (hasBias_)
      bias_ = dnnl::memory(plainDesc({c.w[0]}), eng,
                           const_cast<void*>(desc_.constantInputs[2]->data()));
    needWorkspace(ws);
    return Status::ok();
  }

  static dnnl::memory::desc plainDescOf(Dims d, int64_t batch) {
    d[0] = batch;
    return plainDesc(d);
  }

  void runPart(Part& p) {
    const Variant& v = variants_[p.variant];
    auto* ws = static_cast<uint8_t*>(workspace_) + p.wsOffset;
    const float* x = in<float>(0) + p.n0 * xImage_;
    float* y = out<float>(0) + p.n0 * yImage_;
    p.scratch.set_data_handle(ws);
    p.xUser.set_data_handle(const_cast<float*>(x));
    p.yUser.set_data_handle(y);
    p.x.set_data_handle(v.xReorder ? static_cast<void*>(ws + v.scratchBytes)
                                   : static_cast<void*>(const_cast<float*>(x)));
    p.y.set_data_handle(v.yReorder ? static_cast<void*>(ws + v.scratchBytes + v.xBytes)
                                   : static_cast<void*>(y));
    if (v.xReorder) v.xToPrim.execute(*p.stream, p.xUser, p.x);
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, p.x},
                                                  {DNNL_ARG_WEIGHTS, v.packed},
                                                  {DNNL_ARG_DST, p.y},
                                                  {DNNL_ARG_SCRATCHPAD, p.scratch}};
    if (hasBias_) args[DNNL_ARG_BIAS] = bias_;
    v.prim.execute(*p.stream, args);
    if (v.yReorder) v.yFromPrim.execute(*p.stream, p.y, p.yUser);
    p.stream->wait();
  }

  Status compute() override {
    useOneDnnThreadCount();
    const int t = static_cast<int>(std::min<int64_t>(threads_, parts_.size()));
    std::vector<std::string> errors(parts_.size());
    runChunks(t, static_cast<int64_t>(parts_.size()), [&](int64_t i) {
      useOneDnnThreadCount();
      try {
        runPart(parts_[static_cast<size_t>(i)]);
      } catch (const dnnl::error& e) {
        errors[static_cast<size_t>(i)] = e.what();
      }
    });
    for (const std::string& e : errors)
      if (!e.empty()) return internalError("layer '" + desc_.name() + "': oneDNN: " + e);
    return Status::ok();
  }

  std::vector<PostOp> postOps_;
  bool blocked_ = false, hasBias_ = false;
  std::vector<Variant> variants_;
  std::vector<Part> parts_;
  int64_t xImage_ = 0, yImage_ = 0;  ///< elements per image of x and y
  dnnl::memory bias_;
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
    runThreads_ = threadsFor(threads_, static_cast<double>(n_) * m_ * c_ * hw_, kMacsPerThread);
    // Work items: (image, block of columns); blocks of at least 64 columns.
    blocks_ =
        std::max<int64_t>(1, std::min<int64_t>((hw_ + 63) / 64, (2 * runThreads_ + n_ - 1) / n_));
    return Status::ok();
  }

  Status compute() override {
    useOneDnnThreadCount();
    const float* w = static_cast<const float*>(desc_.constantInputs[1]->data());
    const float* bias =
        desc_.hasInput(2) ? static_cast<const float*>(desc_.constantInputs[2]->data()) : nullptr;
    const int64_t step = ((hw_ + blocks_ - 1) / blocks_ + 15) / 16 * 16;
    std::vector<uint8_t> failed(static_cast<size_t>(n_ * blocks_), 0);
    parallelFor(runThreads_, n_ * blocks_, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t item = lo; item < hi; ++item) {
        const int64_t b = item / blocks_, c0 = (item % blocks_) * step;
        const int64_t cols = std::min(hw_, c0 + step) - c0;
        if (cols <= 0) continue;
        const float* x = in<float>(0) + b * c_ * hw_ + c0;
        float* y = out<float>(0) + b * m_ * hw_ + c0;
        // y[:, c0:c0+cols] = W @ x[:, c0:c0+cols] (row pitch hw for both).
        if (dnnl::sgemm('N', 'N', m_, cols, c_, 1.0f, w, c_, x, hw_, 0.0f, y, hw_) !=
            dnnl::status::success) {
          failed[static_cast<size_t>(item)] = 1;
          continue;
        }
        if (bias)
          for (int64_t o = 0; o < m_; ++o)
            avx2::addScalar(y + o * hw_, cols, bias[o]);
      }
    });
    for (uint8_t f : failed)
      if (f) return internalError("layer '" + desc_.name() + "': oneDNN sgemm failed");
    return Status::ok();
  }

  int64_t n_ = 0, c_ = 0, m_ = 0, hw_ = 0, blocks_ = 1;
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
