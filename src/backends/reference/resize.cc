// kiln — reference resampling kernel: Resize.
//
// Each output coordinate along an axis maps to a point of the input axis (the coordinate
// transformation), and from there to a few weighted taps (input indices, clamped to the edge).
// Nearest picks one tap and copies elements of any dtype. Linear and cubic are separable: one
// pass per resized axis, in double, over float and double tensors.
#include <cmath>
#include <cstring>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

struct Tap {
  int64_t index = 0;  ///< input index, clamped to [0, n)
  double weight = 0;
};

/// The taps of one output coordinate; `outside` when tf_crop_and_resize maps it outside the
/// input (the sample is then the extrapolation value).
struct Sample {
  std::vector<Tap> taps;
  bool outside = false;
};

/// The input coordinate of output coordinate `o` along an axis of `in` input and `out` output
/// samples resized by `scale`; `outside` as above.
double sourceCoordinate(const ResizeAttrs& a, int64_t o, int64_t in, int64_t out, double scale,
                        double roiStart, double roiEnd, bool* outside) {
  const double x = static_cast<double>(o);
  const double length = scale * static_cast<double>(in);  // the output length before flooring
  *outside = false;
  switch (a.coordinates) {
    case ResizeCoordinates::kHalfPixel:
      return (x + 0.5) / scale - 0.5;
    case ResizeCoordinates::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(out) / length;
      const double offset = static_cast<double>(in) / 2 * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case ResizeCoordinates::kPytorchHalfPixel:
      return length == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    case ResizeCoordinates::kAlignCorners:
      return length == 1 ? 0.0 : x * static_cast<double>(in - 1) / (length - 1);
    case ResizeCoordinates::kAsymmetric:
      return x / scale;
    case ResizeCoordinates::kTfHalfPixelForNn:
      return (x + 0.5) / scale;
    case ResizeCoordinates::kTfCropAndResize: {
      const double span = (roiEnd - roiStart) * static_cast<double>(in - 1);
      double s = length == 1 ? span / 2 : x * span / (length - 1);
      s += roiStart * static_cast<double>(in - 1);
      *outside = s < 0 || s > static_cast<double>(in - 1);
      return s;
    }
  }
  return 0;
}

/// Cubic convolution weight of a tap at distance |d| with coefficient A.
double cubicWeight(double d, double A) {
  d = std::fabs(d);
  if (d <= 1) return ((A + 2) * d - (A + 3)) * d * d + 1;
  if (d < 2) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
  return 0;
}

/// The taps of source coordinate `s` on an axis of `n` input samples. The taps are n/2 below and
/// n/2 above the coordinate; a coordinate on a sample takes it as the upper middle tap (ratio 1),
/// as the ONNX reference does.
Sample samplesOf(const ResizeAttrs& a, double s, int64_t n, double scale) {
  Sample out;
  const double fl = std::floor(s);
  const bool onSample = s == fl;
  const int64_t base = static_cast<int64_t>(fl) - (onSample ? 1 : 0);
  const double ratio = onSample ? 1.0 : s - fl;
  std::vector<double> w;
  int64_t first = base;  // index of w[0]
  switch (a.mode) {
    case ResizeMode::kNearest: {
      bool upper = true;
      if (!onSample) {
        switch (a.nearestMode) {
          case ResizeNearestMode::kRoundPreferFloor:
            upper = ratio > 0.5;
            break;
          case ResizeNearestMode::kRoundPreferCeil:
            upper = ratio >= 0.5;
            break;
          case ResizeNearestMode::kFloor:
            upper = false;
            break;
          case ResizeNearestMode::kCeil:
            upper = true;
            break;
        }
      }
      w = {upper ? 0.0 : 1.0, upper ? 1.0 : 0.0};
      break;
    }
    case ResizeMode::kLinear: {
      if (a.antialias && scale < 1) {
        const int64_t start = static_cast<int64_t>(std::floor(-1 / scale)) + 1;
        const int64_t count = 2 - 2 * start;
        first = base + start;
        for (int64_t j = start; j < start + count; ++j)
          w.push_back(std::max(0.0, 1 - std::fabs((static_cast<double>(j) - ratio) * scale)));
      } else {
        w = {1 - ratio, ratio};
      }
      break;
    }
    case ResizeMode::kCubic: {
      const double A = a.cubicCoeffA;
      if (a.antialias && scale < 1) {
        const int64_t start = static_cast<int64_t>(std::floor(-2 / scale)) + 1;
        const int64_t end = 2 - start;
        first = base + start;
        for (int64_t j = start; j < end; ++j)
          w.push_back(cubicWeight((static_cast<double>(j) - ratio) * scale, A));
      } else {
        first = base - 1;
        for (int64_t j = -1; j <= 2; ++j)
          w.push_back(cubicWeight(static_cast<double>(j) - ratio, A));
      }
      break;
    }
  }
  double sum = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const int64_t idx = first + static_cast<int64_t>(i);
    if (a.excludeOutside && (idx < 0 || idx >= n)) w[i] = 0;
    sum += w[i];
  }
  // Antialiased and exclude_outside weights are renormalized to sum to 1.
  const bool normalize =
      a.excludeOutside || (a.antialias && scale < 1 && a.mode != ResizeMode::kNearest);
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] == 0) continue;
    const int64_t idx = std::clamp<int64_t>(first + static_cast<int64_t>(i), 0, n - 1);
    out.taps.push_back({idx, normalize ? w[i] / sum : w[i]});
  }
  return out;
}

class ResizeKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const ResizeAttrs& a = attrs<ResizeAttrs>();
    std::vector<double> roi, scales;
    std::vector<int64_t> sizes;
    auto present = [&](size_t k) { return desc_.hasInput(k) && volume(in_[k].dims) != 0; };
    if (present(1) && a.coordinates == ResizeCoordinates::kTfCropAndResize) {
      KILN_ASSIGN_OR_RETURN(roi, paramDoubles(1));
    }
    if (present(2)) {
      KILN_ASSIGN_OR_RETURN(scales, paramDoubles(2));
    }
    if (present(3)) {
      KILN_ASSIGN_OR_RETURN(sizes, paramInts(3));
    }
    auto g = resolveResize(a, in_[0].dims, present(1) ? &roi : nullptr,
                           present(2) ? &scales : nullptr, present(3) ? &sizes : nullptr);
    if (!g) return layerError(desc_, g.status().message());
    if (g->output != out_[0].dims)
      return layerError(desc_, "output dims " + dimsToString(out_[0].dims) + " differ from " +
                                   dimsToString(g->output));
    const Dims& x = in_[0].dims;
    samples_.assign(x.size(), {});
    identity_.assign(x.size(), true);
    for (size_t d = 0; d < x.size(); ++d) {
      const int64_t out = g->output[d];
      if (out == 0 || x[d] == 0) continue;
      for (int64_t o = 0; o < out; ++o) {
        bool outside = false;
        const double s =
            sourceCoordinate(a, o, x[d], out, g->scales[d], g->roiStart[d], g->roiEnd[d], &outside);
        if (!std::isfinite(s))
          return layerError(desc_, "axis " + std::to_string(d) + " maps output " +
                                       std::to_string(o) + " to a non-finite coordinate");
        Sample smp = outside ? Sample{{}, true} : samplesOf(a, s, x[d], g->scales[d]);
        if (!(smp.taps.size() == 1 && smp.taps[0].index == o && smp.taps[0].weight == 1))
          identity_[d] = false;
        samples_[d].push_back(std::move(smp));
      }
      if (out != x[d]) identity_[d] = false;
    }
    return Status::ok();
  }

  /// Nearest: every output element copies one input element.
  Status nearest() {
    const Dims& x = in_[0].dims;
    const Dims& y = out_[0].dims;
    const int64_t count = volume(y);
    const size_t elem = dataTypeSize(out_[0].dtype);
    const ref::Strides xs = ref::contiguousStrides(x);
    const char* src = static_cast<const char*>(in<void>(0));
    char* dst = static_cast<char*>(out<void>(0));
    std::vector<char> extrapolated(elem, 0);
    const float ev = attrs<ResizeAttrs>().extrapolationValue;
    if (out_[0].dtype == DataType::kFloat32)
      std::memcpy(extrapolated.data(), &ev, sizeof(float));
    else if (out_[0].dtype == DataType::kFloat64) {
      const double dv = ev;
      std::memcpy(extrapolated.data(), &dv, sizeof(double));
    } else if (ev != 0) {
      return layerError(desc_, std::string("a non-zero extrapolation value for ") +
                                   dataTypeName(out_[0].dtype) + " is not supported");
    }
    std::vector<int64_t> idx(y.size(), 0);
    for (int64_t i = 0; i < count; ++i) {
      int64_t off = 0;
      bool outside = false;
      for (size_t d = 0; d < y.size(); ++d) {
        const Sample& s = samples_[d][static_cast<size_t>(idx[d])];
        if (s.outside || s.taps.empty()) {
          outside = true;
          break;
        }
        off += s.taps[0].index * xs[d];
      }
      std::memcpy(dst + static_cast<size_t>(i) * elem,
                  outside ? extrapolated.data() : src + static_cast<size_t>(off) * elem, elem);
      for (size_t d = y.size(); d-- > 0;) {
        if (++idx[d] < y[d]) break;
        idx[d] = 0;
      }
    }
    return Status::ok();
  }

  /// Linear and cubic: one weighted pass per resized axis, in double.
  template <class T>
  Status interpolate() {
    const double ev = attrs<ResizeAttrs>().extrapolationValue;
    Dims dims = in_[0].dims;
    const int64_t n0 = volume(dims);
    std::vector<double> cur(static_cast<size_t>(n0));
    const T* src = in<T>(0);
    for (int64_t i = 0; i < n0; ++i)
      cur[static_cast<size_t>(i)] = static_cast<double>(src[i]);
    for (size_t d = 0; d < dims.size(); ++d) {
      if (identity_[d]) continue;
      const ref::AxisSplit sp = ref::splitAt(dims, static_cast<int64_t>(d));
      const int64_t out = out_[0].dims[d];
      KILN_ASSIGN_OR_RETURN(int64_t count,
                            elementCount({sp.outer, out, sp.inner}, "a Resize pass"));
      std::vector<double> next(static_cast<size_t>(count));
      for (int64_t o = 0; o < sp.outer; ++o)
        for (int64_t j = 0; j < out; ++j) {
          const Sample& s = samples_[d][static_cast<size_t>(j)];
          double* dst = next.data() + (o * out + j) * sp.inner;
          for (int64_t k = 0; k < sp.inner; ++k) {
            if (s.outside) {
              dst[k] = ev;
              continue;
            }
            double acc = 0;
            for (const Tap& t : s.taps)
              acc += t.weight * cur[static_cast<size_t>((o * sp.n + t.index) * sp.inner + k)];
            dst[k] = acc;
          }
        }
      cur = std::move(next);
      dims[d] = out;
    }
    T* dst = out<T>(0);
    for (size_t i = 0; i < cur.size(); ++i)
      dst[i] = static_cast<T>(cur[i]);
    return Status::ok();
  }

  Status compute() override {
    if (volume(out_[0].dims) == 0) return Status::ok();
    if (attrs<ResizeAttrs>().mode == ResizeMode::kNearest) return nearest();
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(
        out_[0].dtype, [&](auto tag) { return interpolate<decltype(tag)>(); });
  }

  std::vector<std::vector<Sample>> samples_;  ///< per dim, per output coordinate
  std::vector<bool> identity_;                ///< per dim: the pass would copy
};

}  // namespace

Status supportsReferenceResize(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  const ResizeAttrs& a = desc.layer->as<ResizeAttrs>();
  if (a.mode != ResizeMode::kNearest)
    KILN_RETURN_IF_ERROR(ref::requireOutputType(desc, 0, {DataType::kFloat32, DataType::kFloat64}));
  return ref::requireOutputType(desc, 0, {desc.inputs[0].dtype});
}

Expected<std::unique_ptr<Kernel>> createReferenceResize(const LayerDesc& desc) {
  return ref::makeKernel<ResizeKernel>(desc);
}

}  // namespace kiln
