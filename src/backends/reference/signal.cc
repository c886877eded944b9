// kiln — reference signal layers: Window (Hann, Hamming, Blackman), Dft, Stft and
// MelWeightMatrix.
//
// Transforms are direct O(n^2) sums in double (the oracle favours clarity over an FFT), rounded
// once to the output type. Complex values are the trailing dim: [..., 1] real, [..., 2] complex.
//   Dft: along `axis` (a param input) with length N = dft_length or the axis size (zero-padded or
//     truncated). Forward: y[k] = sum_j x[j] e^(-2 pi i jk / N); onesided keeps k <= N / 2.
//     Inverse: y[j] = 1/N sum_k x[k] e^(2 pi i jk / N); inverse onesided takes the half spectrum
//     (k <= N / 2, N = dft_length or 2 (n - 1)), completes it by Hermitian symmetry and gives the
//     real signal [..., N, 1] (numpy's irfft).
//   Stft: frames of frame_length samples every frame_step, each multiplied by the window (ones
//     when absent) and transformed; y[b, frame, k, 2], onesided keeps k <= frame_length / 2.
//   MelWeightMatrix: triangular mel filters, computed as the ONNX reference does.
// dtypes: f32, f64.
#include <cmath>
#include <complex>
#include <numbers>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

using Complex = std::complex<double>;

/// e^(sign * 2 pi i * jk / n), with jk reduced mod n so the angle stays small and exact.
Complex twiddle(int64_t j, int64_t k, int64_t n, double sign) {
  const int64_t r = (j % n) * (k % n) % n;
  const double angle =
      sign * 2.0 * std::numbers::pi * static_cast<double>(r) / static_cast<double>(n);
  return {std::cos(angle), std::sin(angle)};
}

// ---- Window ----------------------------------------------------------------------------------

class WindowKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  template <class T>
  Status run() {
    const auto& a = attrs<WindowAttrs>();
    const int64_t n = out_[0].dims.empty() ? 1 : out_[0].dims[0];
    // Periodic windows divide by N (one period of a longer window), symmetric ones by N - 1.
    const double denom = static_cast<double>(a.periodic ? n : n - 1);
    T* y = out<T>(0);
    for (int64_t i = 0; i < n; ++i) {
      const double t = 2.0 * std::numbers::pi * static_cast<double>(i) / denom;
      double v = 0;
      switch (a.kind) {
        case WindowKind::kHann:
          v = 0.5 - 0.5 * std::cos(t);
          break;
        case WindowKind::kHamming:
          v = 25.0 / 46.0 - 21.0 / 46.0 * std::cos(t);
          break;
        case WindowKind::kBlackman:
          v = 0.42 - 0.5 * std::cos(t) + 0.08 * std::cos(2.0 * t);
          break;
      }
      y[i] = static_cast<T>(v);
    }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }
};

// ---- Dft -------------------------------------------------------------------------------------

class DftKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    const int64_t rank = static_cast<int64_t>(x.size());
    if (rank < 2 || (x.back() != 1 && x.back() != 2))
      return layerError(desc_,
                        "input dims " + dimsToString(x) + " must end with 1 (real) or 2 (complex)");
    KILN_ASSIGN_OR_RETURN(auto axisValues, paramInts(1));
    if (axisValues.size() != 1) return layerError(desc_, "axis must be one value");
    KILN_ASSIGN_OR_RETURN(axis_, normalizeAxis(desc_, axisValues[0], rank));
    if (axis_ == rank - 1)
      return layerError(desc_, "axis must not be the last (real / imaginary) dim");
    const auto& a = attrs<DftAttrs>();
    n_ = x[static_cast<size_t>(axis_)];
    length_ = a.inverse && a.onesided ? 2 * (n_ - 1) : n_;
    if (desc_.hasInput(2)) {
      KILN_ASSIGN_OR_RETURN(auto len, paramInts(2));
      if (len.size() != 1 || len[0] < 1)
        return layerError(desc_, "dft_length must be one positive value");
      length_ = len[0];
    }
    if (length_ < 1) return layerError(desc_, "the transform length must be positive");
    return Status::ok();
  }

  template <class T>
  Status run() {
    const auto& a = attrs<DftAttrs>();
    const Dims& xd = in_[0].dims;
    const Dims& yd = out_[0].dims;
    const size_t ax = static_cast<size_t>(axis_);
    const int64_t outer = ref::volumeOf(xd, 0, ax);
    const int64_t inner = ref::volumeOf(xd, ax + 1, xd.size() - 1);  // between axis and last
    const int64_t cin = xd.back(), cout = yd.back(), nOut = yd[ax];
    const T* x = in<T>(0);
    T* y = out<T>(0);
    const int64_t n = length_;
    std::vector<Complex> sig(static_cast<size_t>(n));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        auto xAt = [&](int64_t t) {
          const T* p = x + ((o * n_ + t) * inner + j) * cin;
          return Complex(static_cast<double>(p[0]), cin == 2 ? static_cast<double>(p[1]) : 0.0);
        };
        if (a.inverse && a.onesided) {
          // Half spectrum -> full Hermitian spectrum of length n.
          const int64_t half = n / 2 + 1;
          for (int64_t k = 0; k < half; ++k)
            sig[static_cast<size_t>(k)] = k < n_ ? xAt(k) : Complex(0, 0);
          for (int64_t k = half; k < n; ++k)
            sig[static_cast<size_t>(k)] = std::conj(sig[static_cast<size_t>(n - k)]);
        } else {
          for (int64_t t = 0; t < n; ++t)
            sig[static_cast<size_t>(t)] = t < n_ ? xAt(t) : Complex(0, 0);
        }
        const double sign = a.inverse ? 1.0 : -1.0;
        for (int64_t k = 0; k < nOut; ++k) {
          Complex acc(0, 0);
          for (int64_t t = 0; t < n; ++t)
            acc += sig[static_cast<size_t>(t)] * twiddle(t, k, n, sign);
          if (a.inverse) acc /= static_cast<double>(n);
          T* p = y + ((o * nOut + k) * inner + j) * cout;
          p[0] = static_cast<T>(acc.real());
          if (cout == 2) p[1] = static_cast<T>(acc.imag());
        }
      }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  int64_t axis_ = 0, n_ = 0, length_ = 0;
};

// ---- Stft ------------------------------------------------------------------------------------

class StftKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    const Dims& x = in_[0].dims;
    if (x.size() != 3 || (x[2] != 1 && x[2] != 2))
      return layerError(desc_,
                        "signal dims " + dimsToString(x) + " must be [batch, length, 1 or 2]");
    KILN_ASSIGN_OR_RETURN(auto step, paramInts(1));
    if (step.size() != 1 || step[0] < 1)
      return layerError(desc_, "frame_step must be one positive value");
    step_ = step[0];
    if (desc_.hasInput(2)) {
      if (in_[2].dims.size() != 1)
        return layerError(desc_, "the window must be 1-D, found " + dimsToString(in_[2].dims));
      frameLength_ = in_[2].dims[0];
    } else if (desc_.hasInput(3)) {
      KILN_ASSIGN_OR_RETURN(auto len, paramInts(3));
      if (len.size() != 1) return layerError(desc_, "frame_length must be one value");
      frameLength_ = len[0];
    } else {
      frameLength_ = x[1];
    }
    if (desc_.hasInput(2) && desc_.hasInput(3)) {
      KILN_ASSIGN_OR_RETURN(auto len, paramInts(3));
      if (len.size() != 1 || len[0] != frameLength_)
        return layerError(
            desc_, "frame_length does not match the window length " + std::to_string(frameLength_));
    }
    if (frameLength_ < 1 || frameLength_ > x[1])
      return layerError(desc_, "frame_length " + std::to_string(frameLength_) +
                                   " must be in [1, signal length " + std::to_string(x[1]) + "]");
    return Status::ok();
  }

  template <class T>
  Status run() {
    const Dims& xd = in_[0].dims;
    const Dims& yd = out_[0].dims;
    const int64_t batch = xd[0], length = xd[1], cin = xd[2];
    const int64_t frames = yd[1], bins = yd[2];
    const int64_t n = frameLength_;
    const T* x = in<T>(0);
    const T* window = desc_.hasInput(2) ? in<T>(2) : nullptr;
    T* y = out<T>(0);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t f = 0; f < frames; ++f)
        for (int64_t k = 0; k < bins; ++k) {
          Complex acc(0, 0);
          for (int64_t t = 0; t < n; ++t) {
            const int64_t s = f * step_ + t;
            if (s >= length) break;
            const T* p = x + (b * length + s) * cin;
            Complex v(static_cast<double>(p[0]), cin == 2 ? static_cast<double>(p[1]) : 0.0);
            if (window) v *= static_cast<double>(window[t]);
            acc += v * twiddle(t, k, n, -1.0);
          }
          T* q = y + ((b * frames + f) * bins + k) * 2;
          q[0] = static_cast<T>(acc.real());
          q[1] = static_cast<T>(acc.imag());
        }
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  int64_t step_ = 1, frameLength_ = 1;
};

// ---- MelWeightMatrix -----------------------------------------------------------------------

class MelWeightMatrixKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  /// Input k (a one-value tensor of any int or float type kiln has) as a double.
  double scalar(size_t k) const {
    double v = 0;
    (void)ref::dispatchType<KILN_REF_ALL_TYPES>(in_[k].dtype, [&](auto tag) {
      v = static_cast<double>(in<decltype(tag)>(k)[0]);
      return Status::ok();
    });
    return v;
  }

  Status reshaped() override {
    for (size_t k = 2; k < 5; ++k)
      if (volume(in_[k].dims) != 1)
        return layerError(desc_, "input " + std::to_string(k) + " must hold one value");
    KILN_ASSIGN_OR_RETURN(auto length, paramInts(1));
    if (length.size() != 1 || length[0] < 1)
      return layerError(desc_, "dft_length must be one positive value");
    dftLength_ = length[0];
    return Status::ok();
  }

  /// Triangular filters between mel-spaced points (mel = 2595 log10(1 + hz / 700)) mapped to
  /// DFT bins: bin = floor((dft_length + 1) hz / sample_rate), as the ONNX reference does.
  template <class T>
  Status run() {
    const int64_t rows = out_[0].dims[0], bins = out_[0].dims[1];
    const double rate = scalar(2), lo = scalar(3), hi = scalar(4);
    if (rate <= 0) return layerError(desc_, "sample_rate must be positive");
    const double loMel = 2595 * std::log10(1 + lo / 700), hiMel = 2595 * std::log10(1 + hi / 700);
    const double step = (hiMel - loMel) / static_cast<double>(bins + 2);
    std::vector<int64_t> point(static_cast<size_t>(bins + 2));
    for (int64_t i = 0; i < bins + 2; ++i) {
      const double hz = 700 * (std::pow(10.0, (static_cast<double>(i) * step + loMel) / 2595) - 1);
      point[static_cast<size_t>(i)] =
          static_cast<int64_t>(std::floor(static_cast<double>(dftLength_ + 1) * hz / rate));
    }
    std::vector<double> w(static_cast<size_t>(rows * bins), 0.0);
    auto set = [&](int64_t r, int64_t c, double v) -> Status {
      if (r < 0 || r >= rows)
        return layerError(desc_, "the filter bank reaches bin " + std::to_string(r) +
                                     ", outside [0, " + std::to_string(rows) +
                                     "): the edge frequencies exceed the sample rate's range");
      w[static_cast<size_t>(r * bins + c)] = v;
      return Status::ok();
    };
    for (int64_t i = 0; i < bins; ++i) {
      const int64_t left = point[static_cast<size_t>(i)],
                    center = point[static_cast<size_t>(i + 1)],
                    right = point[static_cast<size_t>(i + 2)];
      if (center == left) {
        KILN_RETURN_IF_ERROR(set(center, i, 1));
      } else {
        for (int64_t j = left; j <= center; ++j)
          KILN_RETURN_IF_ERROR(
              set(j, i, static_cast<double>(j - left) / static_cast<double>(center - left)));
      }
      if (right > center)
        for (int64_t j = center; j < right; ++j)
          KILN_RETURN_IF_ERROR(
              set(j, i, static_cast<double>(right - j) / static_cast<double>(right - center)));
    }
    T* y = out<T>(0);
    for (size_t i = 0; i < w.size(); ++i)
      y[i] = static_cast<T>(w[i]);
    return Status::ok();
  }

  Status compute() override {
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  int64_t dftLength_ = 1;
};

constexpr std::initializer_list<DataType> kFloatTypes = {DataType::kFloat32, DataType::kFloat64};

}  // namespace

Status supportsReferenceMelWeightMatrix(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 5));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  for (size_t k = 2; k < 5; ++k) {
    KILN_RETURN_IF_ERROR(
        ref::requireInputType(desc, k,
                              {DataType::kFloat32, DataType::kFloat64, DataType::kInt8,
                               DataType::kUInt8, DataType::kInt32, DataType::kInt64}));
  }
  return ref::requireOutputType(desc, 0, kFloatTypes);
}

Expected<std::unique_ptr<Kernel>> createReferenceMelWeightMatrix(const LayerDesc& desc) {
  return ref::makeKernel<MelWeightMatrixKernel>(desc);
}

Status supportsReferenceWindow(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  return ref::requireOutputType(desc, 0, kFloatTypes);
}

Expected<std::unique_ptr<Kernel>> createReferenceWindow(const LayerDesc& desc) {
  return ref::makeKernel<WindowKernel>(desc);
}

Status supportsReferenceDft(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kFloatTypes));
  return ref::requireOutputType(desc, 0, {desc.inputs[0].dtype});
}

Expected<std::unique_ptr<Kernel>> createReferenceDft(const LayerDesc& desc) {
  return ref::makeKernel<DftKernel>(desc);
}

Status supportsReferenceStft(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 0, kFloatTypes));
  if (desc.hasInput(2)) {
    KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 2, {desc.inputs[0].dtype}));
  }
  return ref::requireOutputType(desc, 0, {desc.inputs[0].dtype});
}

Expected<std::unique_ptr<Kernel>> createReferenceStft(const LayerDesc& desc) {
  return ref::makeKernel<StftKernel>(desc);
}

}  // namespace kiln
