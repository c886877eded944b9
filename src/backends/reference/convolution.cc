// kiln — reference Convolution: direct loops, nD (1 to 3 spatial dims), grouped, strided,
// padded, dilated, optional bias, forward or transposed; f32 and f64.
//
// Loop order: for each output channel, for each (input channel, kernel tap), add
// w * shifted input to the whole output plane, with the output-pixel loop innermost. The valid
// output range of each tap is computed up front, so the inner loop has no bounds checks.
#include <algorithm>

#include "backends/reference/epilogue.h"
#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

/// Checks x[N,C,*], w[M,C/group,*], b[M], y[N,M,*] against each other.
Status checkShapes(const LayerDesc& desc, const Dims& x, const Dims& w, const Dims* b,
                   const Dims& y) {
  const auto& a = desc.layer->as<ConvolutionAttrs>();
  const std::string shapes =
      "x" + dimsToString(x) + ", w" + dimsToString(w) + ", y" + dimsToString(y);
  if (x.size() < 3 || x.size() > 5)
    return unsupported("layer '" + desc.name() +
                       "' (Convolution): the reference backend supports 1 to 3 spatial dims (" +
                       shapes + ")");
  if (w.size() != x.size() || y.size() != x.size())
    return layerError(desc, "x, w and y must have the same rank (" + shapes + ")");
  if (a.group < 1 || x[1] % a.group != 0 || w[0] % a.group != 0 || w[1] * a.group != x[1])
    return layerError(
        desc, "channels do not match group " + std::to_string(a.group) + " (" + shapes + ")");
  if (y[0] != x[0] || y[1] != w[0])
    return layerError(desc, "output must be [N, M, ...] (" + shapes + ")");
  if (b && volume(*b) != w[0])
    return layerError(
        desc, "bias " + dimsToString(*b) + " must have M = " + std::to_string(w[0]) + " elements");
  if (!a.kernelShape.empty() && a.kernelShape != Dims(w.begin() + 2, w.end()))
    return layerError(desc, "kernel_shape does not match the weights (" + shapes + ")");
  return Status::ok();
}

/// Checks x[N,C,*], w[C,M/group,*], b[M], y[N,M,*] of a transposed convolution.
Status checkTransposedShapes(const LayerDesc& desc, const Dims& x, const Dims& w, const Dims* b,
                             const Dims& y) {
  const auto& a = desc.layer->as<ConvolutionAttrs>();
  const std::string shapes =
      "x" + dimsToString(x) + ", w" + dimsToString(w) + ", y" + dimsToString(y);
  if (x.size() < 3 || x.size() > 5)
    return unsupported("layer '" + desc.name() +
                       "' (Convolution): the reference backend supports 1 to 3 spatial dims (" +
                       shapes + ")");
  if (w.size() != x.size() || y.size() != x.size())
    return layerError(desc, "x, w and y must have the same rank (" + shapes + ")");
  if (a.group < 1 || x[1] % a.group != 0 || w[0] != x[1] || y[1] % a.group != 0 ||
      w[1] * a.group != y[1])
    return layerError(desc, "channels do not match group " + std::to_string(a.group) +
                                " (transposed: " + shapes + ")");
  if (y[0] != x[0]) return layerError(desc, "output must be [N, M, ...] (" + shapes + ")");
  if (b && volume(*b) != y[1])
    return layerError(
        desc, "bias " + dimsToString(*b) + " must have M = " + std::to_string(y[1]) + " elements");
  if (!a.kernelShape.empty() && a.kernelShape != Dims(w.begin() + 2, w.end()))
    return layerError(desc, "kernel_shape does not match the weights (" + shapes + ")");
  return Status::ok();
}

/// Transposed convolution: every input pixel i of channel ic adds x * w[ic, oc, k] to the
/// output pixel i * stride + k * dilation - padBegin of each output channel oc of its group
/// (when that pixel exists; pads may be negative, which leaves output pixels no tap reaches).
class TransposedConvolutionKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    const Dims& w = in_[1].dims;
    const Dims& y = out_[0].dims;
    hasBias_ = desc_.hasInput(2);
    KILN_RETURN_IF_ERROR(checkTransposedShapes(desc_, x, w, hasBias_ ? &in_[2].dims : nullptr, y));
    const auto& a = attrs<ConvolutionAttrs>();
    const Dims kernel(w.begin() + 2, w.end());
    KILN_ASSIGN_OR_RETURN(ConcreteWindow g, resolveConcreteTransposedWindow(desc_, kernel, a, x));
    if (g.outputSpatial != Dims(y.begin() + 2, y.end()))
      return layerError(desc_, "output " + dimsToString(y) + " does not match the geometry " +
                                   dimsToString(g.outputSpatial));
    KILN_ASSIGN_OR_RETURN(win_, ref::makeWindow3(desc_, g, Dims(x.begin() + 2, x.end()),
                                                 Dims(y.begin() + 2, y.end())));
    return epilogue_.prepare(desc_, in_, y, a);
  }

  template <class T>
  Status run() {
    const Dims& x = in_[0].dims;
    const Dims& y = out_[0].dims;
    const int64_t n = x[0], c = x[1], m = y[1], group = attrs<ConvolutionAttrs>().group;
    const int64_t cg = c / group, mg = m / group;
    const auto& v = win_;
    const int64_t inPlane = v.in[0] * v.in[1] * v.in[2];
    const int64_t outPlane = v.out[0] * v.out[1] * v.out[2];
    const int64_t taps = v.kernel[0] * v.kernel[1] * v.kernel[2];
    const T* xd = in<T>(0);
    const T* wd = in<T>(1);
    const T* bd = hasBias_ ? in<T>(2) : nullptr;
    T* yd = out<T>(0);
    // Output position of input position i through tap k along dim j, or -1 outside.
    auto at = [&](size_t j, int64_t i, int64_t k) {
      const int64_t o = i * v.stride[j] + k * v.dilation[j] - v.padBegin[j];
      return o >= 0 && o < v.out[j] ? o : int64_t{-1};
    };
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t oc = 0; oc < m; ++oc) {
        const int64_t g = oc / mg;
        T* yp = yd + (b * m + oc) * outPlane;
        std::fill(yp, yp + outPlane, bd ? bd[oc] : T(0));
        for (int64_t icg = 0; icg < cg; ++icg) {
          const int64_t ic = g * cg + icg;
          const T* xp = xd + (b * c + ic) * inPlane;
          const T* wp = wd + (ic * mg + (oc - g * mg)) * taps;
          for (int64_t kd = 0; kd < v.kernel[0]; ++kd)
            for (int64_t kh = 0; kh < v.kernel[1]; ++kh)
              for (int64_t kw = 0; kw < v.kernel[2]; ++kw) {
                const T wv = wp[(kd * v.kernel[1] + kh) * v.kernel[2] + kw];
                for (int64_t id = 0; id < v.in[0]; ++id) {
                  const int64_t od = at(0, id, kd);
                  if (od < 0) continue;
                  for (int64_t ih = 0; ih < v.in[1]; ++ih) {
                    const int64_t oh = at(1, ih, kh);
                    if (oh < 0) continue;
                    const T* xr = xp + (id * v.in[1] + ih) * v.in[2];
                    T* yr = yp + (od * v.out[1] + oh) * v.out[2];
                    for (int64_t iw = 0; iw < v.in[2]; ++iw) {
                      const int64_t ow = at(2, iw, kw);
                      if (ow >= 0) yr[ow] += wv * xr[iw];
                    }
                  }
                }
              }
        }
      }
    }
    epilogue_.apply<T>(yd, desc_.hasInput(3) ? in<T>(3) : nullptr);
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  ref::Window3 win_;
  ref::EpilogueRunner epilogue_;
  bool hasBias_ = false;
};

class ConvolutionKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    const Dims& w = in_[1].dims;
    const Dims& y = out_[0].dims;
    hasBias_ = desc_.hasInput(2);
    KILN_RETURN_IF_ERROR(checkShapes(desc_, x, w, hasBias_ ? &in_[2].dims : nullptr, y));
    const auto& a = attrs<ConvolutionAttrs>();
    const Dims kernel(w.begin() + 2, w.end());
    KILN_ASSIGN_OR_RETURN(ConcreteWindow g,
                          resolveConcreteWindow(desc_, kernel, a.strides, a.dilations, a.padsBegin,
                                                a.padsEnd, a.padding, /*ceilMode=*/false, x));
    KILN_ASSIGN_OR_RETURN(win_, ref::makeWindow3(desc_, g, Dims(x.begin() + 2, x.end()),
                                                 Dims(y.begin() + 2, y.end())));
    return epilogue_.prepare(desc_, in_, y, a);
  }

  template <class T>
  Status run() {
    const Dims& x = in_[0].dims;
    const Dims& w = in_[1].dims;
    const int64_t n = x[0], c = x[1], m = w[0], group = attrs<ConvolutionAttrs>().group;
    const int64_t cg = c / group, mg = m / group;
    const auto& v = win_;
    const int64_t inPlane = v.in[0] * v.in[1] * v.in[2];
    const int64_t outPlane = v.out[0] * v.out[1] * v.out[2];
    const int64_t taps = v.kernel[0] * v.kernel[1] * v.kernel[2];
    const T* xd = in<T>(0);
    const T* wd = in<T>(1);
    const T* bd = hasBias_ ? in<T>(2) : nullptr;
    T* yd = out<T>(0);

    for (int64_t b = 0; b < n; ++b) {
      for (int64_t oc = 0; oc < m; ++oc) {
        const int64_t g = oc / mg;
        T* yp = yd + (b * m + oc) * outPlane;
        std::fill(yp, yp + outPlane, bd ? bd[oc] : T(0));
        for (int64_t icg = 0; icg < cg; ++icg) {
          const T* xp = xd + (b * c + g * cg + icg) * inPlane;
          const T* wp = wd + (oc * cg + icg) * taps;
          for (int64_t kd = 0; kd < v.kernel[0]; ++kd) {
            const int64_t offD = kd * v.dilation[0] - v.padBegin[0];
            const auto [d0, d1] = ref::validRange(offD, v.stride[0], v.in[0], v.out[0]);
            for (int64_t kh = 0; kh < v.kernel[1]; ++kh) {
              const int64_t offH = kh * v.dilation[1] - v.padBegin[1];
              const auto [h0, h1] = ref::validRange(offH, v.stride[1], v.in[1], v.out[1]);
              for (int64_t kw = 0; kw < v.kernel[2]; ++kw) {
                const int64_t offW = kw * v.dilation[2] - v.padBegin[2];
                const auto [w0, w1] = ref::validRange(offW, v.stride[2], v.in[2], v.out[2]);
                const T wv = wp[(kd * v.kernel[1] + kh) * v.kernel[2] + kw];
                for (int64_t od = d0; od < d1; ++od) {
                  const int64_t id = od * v.stride[0] + offD;
                  for (int64_t oh = h0; oh < h1; ++oh) {
                    const int64_t ih = oh * v.stride[1] + offH;
                    const T* xr = xp + (id * v.in[1] + ih) * v.in[2] + offW;
                    T* yr = yp + (od * v.out[1] + oh) * v.out[2];
                    const int64_t sw = v.stride[2];
                    for (int64_t ow = w0; ow < w1; ++ow)
                      yr[ow] += wv * xr[ow * sw];
                  }
                }
              }
            }
          }
        }
      }
    }
    epilogue_.apply<T>(yd, desc_.hasInput(3) ? in<T>(3) : nullptr);
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  ref::Window3 win_;
  ref::EpilogueRunner epilogue_;
  bool hasBias_ = false;
};

}  // namespace

Status supportsReferenceConvolution(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, {DataType::kFloat32, DataType::kFloat64}));
  const DataType t = desc.inputs[0].dtype;
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 1, {t}));
  if (desc.hasInput(2)) KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 2, {t}));
  KILN_RETURN_IF_ERROR(ref::requireOutputType(desc, 0, {t}));
  KILN_RETURN_IF_ERROR(ref::supportsEpilogue(desc, desc.layer->as<ConvolutionAttrs>(), t));
  // Shapes are checked fully at reshape; here only what the reference loops cannot do.
  const size_t rank = desc.inputs[0].dims.size();
  if (rank != 0 && (rank < 3 || rank > 5))
    return unsupported("layer '" + desc.name() +
                       "' (Convolution): the reference backend supports 1 to 3 spatial dims, "
                       "got input rank " +
                       std::to_string(rank));
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createReferenceConvolution(const LayerDesc& desc) {
  if (desc.layer->as<ConvolutionAttrs>().transposed)
    return ref::makeKernel<TransposedConvolutionKernel>(desc);
  return ref::makeKernel<ConvolutionKernel>(desc);
}

}  // namespace kiln
