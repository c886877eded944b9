// kiln — reference Pooling: max and average, windowed (1 to 3 spatial dims, padding, dilation,
// ceil mode) or global; f32 and f64, and i8 / u8 for max pooling.
//
// Average pooling divides by the number of window taps inside the input (count_include_pad
// false) or inside the padded input [-padBegin, in + padEnd) (true) — so in ceil mode a window
// that hangs past the end padding is not charged for it, as in ONNX and PyTorch. Max pooling
// ignores padding; a window with no tap inside the input gives -inf.
#include <algorithm>
#include <limits>
#include <utility>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

class PoolingKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    const Dims& y = out_[0].dims;
    if (x.size() < 3 || y.size() != x.size() || y[0] != x[0] || y[1] != x[1])
      return layerError(desc_, "expected x[N,C,spatial...] and y of the same rank, N and C, got x" +
                                   dimsToString(x) + ", y" + dimsToString(y));
    const auto& a = attrs<PoolingAttrs>();
    const Dims inSpatial(x.begin() + 2, x.end());
    const Dims outSpatial(y.begin() + 2, y.end());
    if (a.global) {
      ConcreteWindow g;
      g.kernel = inSpatial;  // one window covering everything, no padding
      KILN_ASSIGN_OR_RETURN(win_, ref::makeWindow3(desc_, g, inSpatial, outSpatial));
      for (int64_t o : win_.out)
        if (o != 1) return layerError(desc_, "global pooling output must be [N, C, 1, ...]");
      return Status::ok();
    }
    KILN_ASSIGN_OR_RETURN(ConcreteWindow g,
                          resolveConcreteWindow(desc_, a.kernelShape, a.strides, a.dilations,
                                                a.padsBegin, a.padsEnd, a.padding, a.ceilMode, x));
    KILN_ASSIGN_OR_RETURN(win_, ref::makeWindow3(desc_, g, inSpatial, outSpatial));
    return Status::ok();
  }

  /// Number of taps of the window starting at `start` (step `dil`, `k` taps) inside [lo, hi).
  /// The taps t in [0, k) with lo <= start + t * dil < hi: [first, last), found arithmetically,
  /// so a window far larger than its input (a hostile plan's) costs no more than the input.
  static std::pair<int64_t, int64_t> tapRange(int64_t start, int64_t k, int64_t dil, int64_t lo,
                                              int64_t hi) {
    auto firstAtLeast = [&](int64_t bound) -> int64_t {  // smallest t with start + t*dil >= bound
      return start >= bound ? 0 : (bound - start + dil - 1) / dil;
    };
    const int64_t first = std::min(firstAtLeast(lo), k);
    const int64_t last = std::min(firstAtLeast(hi), k);
    return {first, std::max(first, last)};
  }
  static int64_t tapsInside(int64_t start, int64_t k, int64_t dil, int64_t lo, int64_t hi) {
    const auto [first, last] = tapRange(start, k, dil, lo, hi);
    return last - first;
  }

  template <class T>
  Status run() {
    const auto& a = attrs<PoolingAttrs>();
    const bool isMax = a.kind == PoolingKind::kMax;
    const auto& v = win_;
    const int64_t planes = in_[0].dims[0] * in_[0].dims[1];
    const int64_t inPlane = v.in[0] * v.in[1] * v.in[2];
    const int64_t outPlane = v.out[0] * v.out[1] * v.out[2];
    const T* xd = in<T>(0);
    T* yd = out<T>(0);
    for (int64_t p = 0; p < planes; ++p) {
      const T* xp = xd + p * inPlane;
      T* yp = yd + p * outPlane;
      for (int64_t od = 0; od < v.out[0]; ++od) {
        for (int64_t oh = 0; oh < v.out[1]; ++oh) {
          for (int64_t ow = 0; ow < v.out[2]; ++ow) {
            const int64_t sd = od * v.stride[0] - v.padBegin[0];
            const int64_t sh = oh * v.stride[1] - v.padBegin[1];
            const int64_t sw = ow * v.stride[2] - v.padBegin[2];
            double acc = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
            bool sawNaN = false;
            const auto rd = tapRange(sd, v.kernel[0], v.dilation[0], 0, v.in[0]);
            const auto rh = tapRange(sh, v.kernel[1], v.dilation[1], 0, v.in[1]);
            const auto rw = tapRange(sw, v.kernel[2], v.dilation[2], 0, v.in[2]);
            for (int64_t kd = rd.first; kd < rd.second; ++kd) {
              const int64_t id = sd + kd * v.dilation[0];
              for (int64_t kh = rh.first; kh < rh.second; ++kh) {
                const int64_t ih = sh + kh * v.dilation[1];
                const T* xr = xp + (id * v.in[1] + ih) * v.in[2];
                for (int64_t kw = rw.first; kw < rw.second; ++kw) {
                  const int64_t iw = sw + kw * v.dilation[2];
                  const double val = static_cast<double>(xr[iw]);
                  if (isMax) {
                    sawNaN |= val != val;
                    acc = std::max(acc, val);
                  } else {
                    acc += val;
                  }
                }
              }
            }
            if (isMax) {
              if (sawNaN) acc = std::numeric_limits<double>::quiet_NaN();
            } else {
              int64_t count = 1;
              for (int i = 0; i < 3; ++i) {
                const int64_t start = (i == 0 ? sd : i == 1 ? sh : sw);
                const int64_t lo = a.countIncludePad ? -v.padBegin[i] : 0;
                const int64_t hi = a.countIncludePad ? v.in[i] + v.padEnd[i] : v.in[i];
                count *= tapsInside(start, v.kernel[i], v.dilation[i], lo, hi);
              }
              acc = count > 0 ? acc / static_cast<double>(count) : 0.0;
            }
            if constexpr (std::is_integral_v<T>) {  // max of 8-bit values: exact, but not -inf
              acc = std::max(acc, static_cast<double>(std::numeric_limits<T>::lowest()));
            }
            yp[(od * v.out[1] + oh) * v.out[2] + ow] = static_cast<T>(acc);
          }
        }
      }
    }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<float, double, int8_t, uint8_t>(
        out_[0].dtype, [&](auto tag) { return run<decltype(tag)>(); });
  }

  ref::Window3 win_;
};

}  // namespace

Status supportsReferencePooling(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  if (desc.layer->as<PoolingAttrs>().kind == PoolingKind::kMax) {
    KILN_RETURN_IF_ERROR(ref::requireInputType(
        desc, 0, {DataType::kFloat32, DataType::kFloat64, DataType::kInt8, DataType::kUInt8}));
  } else {
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, {DataType::kFloat32, DataType::kFloat64}));
  }
  KILN_RETURN_IF_ERROR(ref::requireOutputType(desc, 0, {desc.inputs[0].dtype}));
  const size_t rank = desc.inputs[0].dims.size();
  if (rank != 0 && (rank < 3 || rank > 5))
    return unsupported("layer '" + desc.name() +
                       "' (Pooling): the reference backend supports 1 to 3 spatial dims, got "
                       "input rank " +
                       std::to_string(rank));
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> createReferencePooling(const LayerDesc& desc) {
  return ref::makeKernel<PoolingKernel>(desc);
}

}  // namespace kiln
