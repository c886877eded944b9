// kiln — reference kernels of sampling at given points: GridSample, AffineGrid.
//
// GridSample maps each grid point to input coordinates, applies the padding mode to the
// coordinate and to every tap, and sums the taps' weighted values per channel; the taps of one
// point are computed once and shared by the channels. Computation is in double.
#include <cmath>
#include <cstring>

#include "backends/reference/kernel_util.h"
#include "backends/reference/reference.h"

namespace kiln {
namespace {

/// Mirrors `x` into [lo, hi] (repeatedly), as GridSample's reflection padding does.
double reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo) {
    const double dx = lo - x;
    const double n = std::trunc(dx / range);
    const double r = dx - n * range;
    return std::fmod(n, 2) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double dx = x - hi;
    const double n = std::trunc(dx / range);
    const double r = dx - n * range;
    return std::fmod(n, 2) == 0 ? hi - r : lo + r;
  }
  return x;
}

double cubicWeight(double d) {
  constexpr double A = -0.75;
  d = std::fabs(d);
  if (d <= 1) return ((A + 2) * d - (A + 3)) * d * d + 1;
  if (d < 2) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
  return 0;
}

/// Converts `count` elements of a float tensor to doubles.
Status toDoubles(DataType dtype, const void* data, int64_t count, std::vector<double>& out) {
  out.resize(static_cast<size_t>(count));
  return ref::dispatchType<KILN_REF_FLOAT_TYPES>(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(data);
    for (int64_t i = 0; i < count; ++i)
      out[static_cast<size_t>(i)] = static_cast<double>(p[i]);
    return Status::ok();
  });
}

class GridSampleKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  struct Tap {
    int64_t offset;  ///< element offset in one channel of x
    double weight;
  };

  /// The taps of axis coordinate `v` (denormalized) on an axis of `size` samples: index and
  /// weight pairs, an index of -1 reading 0 (zeros padding).
  void axisTaps(double v, int64_t size, std::vector<std::pair<int64_t, double>>& taps) const {
    const GridSampleAttrs& a = attrs<GridSampleAttrs>();
    const double lo = a.alignCorners ? 0.0 : -0.5;
    const double hi = a.alignCorners ? static_cast<double>(size - 1) : size - 0.5;
    if (a.mode == ResizeMode::kNearest) v = std::nearbyint(v);  // half to even
    if (v < lo || v > hi) {
      if (a.padding == GridPaddingMode::kBorder)
        v = std::clamp(v, 0.0, static_cast<double>(size - 1));
      else if (a.padding == GridPaddingMode::kReflection)
        v = reflect(v, lo, hi);
    }
    auto pixel = [&](int64_t i) -> int64_t {
      switch (a.padding) {
        case GridPaddingMode::kZeros:
          return i >= 0 && i < size ? i : -1;
        case GridPaddingMode::kBorder:
          return std::clamp<int64_t>(i, 0, size - 1);
        case GridPaddingMode::kReflection:
          return std::clamp<int64_t>(static_cast<int64_t>(reflect(static_cast<double>(i), lo, hi)),
                                     0, size - 1);
      }
      return -1;
    };
    taps.clear();
    if (a.mode == ResizeMode::kNearest) {
      taps.push_back({pixel(static_cast<int64_t>(v)), 1.0});
      return;
    }
    const double f = std::floor(v);
    const int64_t x0 = static_cast<int64_t>(f);
    const double t = v - f;
    if (a.mode == ResizeMode::kLinear) {
      taps.push_back({pixel(x0), 1 - t});
      taps.push_back({pixel(x0 + 1), t});
      return;
    }
    for (int64_t j = -1; j <= 2; ++j)
      taps.push_back({pixel(x0 + j), cubicWeight(static_cast<double>(j) - t)});
  }

  template <class T>
  Status run() {
    const GridSampleAttrs& a = attrs<GridSampleAttrs>();
    const Dims& x = in_[0].dims;
    const Dims& g = in_[1].dims;
    const size_t r = x.size() - 2;
    const int64_t batch = x[0], channels = x[1];
    const int64_t plane = ref::volumeOf(x, 2, x.size());
    const int64_t points = ref::volumeOf(g, 1, g.size() - 1);
    std::vector<double> grid;
    KILN_RETURN_IF_ERROR(toDoubles(in_[1].dtype, in<void>(1), volume(g), grid));
    const ref::Strides xs = ref::contiguousStrides(Dims(x.begin() + 2, x.end()));
    const T* src = in<T>(0);
    T* dst = out<T>(0);
    std::vector<std::vector<std::pair<int64_t, double>>> perAxis(r);
    std::vector<Tap> taps;
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t p = 0; p < points; ++p) {
        const double* c = grid.data() + (n * points + p) * static_cast<int64_t>(r);
        for (size_t d = 0; d < r; ++d) {
          const int64_t size = x[2 + d];
          const double u = c[r - 1 - d];  // the grid lists the last spatial dim first
          const double v = a.alignCorners ? (u + 1) / 2 * static_cast<double>(size - 1)
                                          : ((u + 1) * static_cast<double>(size) - 1) / 2;
          axisTaps(v, size, perAxis[d]);
        }
        // The product of the axes' taps; a tap outside (zeros padding) is dropped.
        taps.assign(1, Tap{0, 1.0});
        for (size_t d = 0; d < r; ++d) {
          std::vector<Tap> next;
          for (const Tap& t : taps)
            for (const auto& [i, w] : perAxis[d])
              if (i >= 0 && w != 0) next.push_back({t.offset + i * xs[d], t.weight * w});
          taps = std::move(next);
        }
        for (int64_t ch = 0; ch < channels; ++ch) {
          const T* base = src + (n * channels + ch) * plane;
          double acc = 0;
          for (const Tap& t : taps)
            acc += t.weight * static_cast<double>(base[t.offset]);
          dst[(n * channels + ch) * points + p] = static_cast<T>(acc);
        }
      }
    return Status::ok();
  }

  Status reshaped() override {
    const Dims& x = in_[0].dims;
    for (size_t d = 2; d < x.size(); ++d)
      if (x[d] == 0 && volume(out_[0].dims) != 0)
        return layerError(desc_, "cannot sample x " + dimsToString(x) + ": spatial dim " +
                                     std::to_string(d) + " is empty");
    return Status::ok();
  }

  Status compute() override {
    if (volume(out_[0].dims) == 0) return Status::ok();
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }
};

class AffineGridKernel final : public ref::ReferenceKernel {
 public:
  using ReferenceKernel::ReferenceKernel;

 private:
  Status reshaped() override {
    KILN_ASSIGN_OR_RETURN(size_, paramInts(1));
    if (size_.size() != 4 && size_.size() != 5)
      return layerError(desc_, "size must hold 4 or 5 values");
    return Status::ok();
  }

  template <class T>
  Status run() {
    const bool align = attrs<AffineGridAttrs>().alignCorners;
    const size_t r = size_.size() - 2;
    const int64_t batch = size_[0];
    const Dims spatial(size_.begin() + 2, size_.end());
    const int64_t points = volume(spatial);
    std::vector<double> theta;
    KILN_RETURN_IF_ERROR(toDoubles(in_[0].dtype, in<void>(0), volume(in_[0].dims), theta));
    auto coordinate = [&](int64_t i, int64_t s) {
      if (align)
        return s == 1 ? -1.0 : -1 + 2.0 * static_cast<double>(i) / static_cast<double>(s - 1);
      return -1 + (2.0 * static_cast<double>(i) + 1) / static_cast<double>(s);
    };
    T* dst = out<T>(0);
    std::vector<int64_t> idx(r, 0);
    std::vector<double> base(r + 1, 1.0);
    for (int64_t n = 0; n < batch; ++n) {
      const double* th = theta.data() + n * static_cast<int64_t>(r * (r + 1));
      std::fill(idx.begin(), idx.end(), 0);
      for (int64_t p = 0; p < points; ++p) {
        // base = (x, y[, z], 1): the last spatial dim first.
        for (size_t d = 0; d < r; ++d)
          base[r - 1 - d] = coordinate(idx[d], spatial[d]);
        for (size_t row = 0; row < r; ++row) {
          double acc = 0;
          for (size_t k = 0; k <= r; ++k)
            acc += th[row * (r + 1) + k] * base[k];
          dst[(n * points + p) * static_cast<int64_t>(r) + static_cast<int64_t>(row)] =
              static_cast<T>(acc);
        }
        for (size_t d = r; d-- > 0;) {
          if (++idx[d] < spatial[d]) break;
          idx[d] = 0;
        }
      }
    }
    return Status::ok();
  }

  Status compute() override {
    if (volume(out_[0].dims) == 0) return Status::ok();
    return ref::dispatchType<KILN_REF_FLOAT_TYPES>(out_[0].dtype,
                                                   [&](auto tag) { return run<decltype(tag)>(); });
  }

  std::vector<int64_t> size_;
};

}  // namespace

Status supportsReferenceGridSample(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  KILN_RETURN_IF_ERROR(ref::requireInputType(desc, 1, {DataType::kFloat32, DataType::kFloat64}));
  return ref::requireOutputType(desc, 0, {DataType::kFloat32, DataType::kFloat64});
}

Expected<std::unique_ptr<Kernel>> createReferenceGridSample(const LayerDesc& desc) {
  return ref::makeKernel<GridSampleKernel>(desc);
}

Status supportsReferenceAffineGrid(const LayerDesc& desc) {
  KILN_RETURN_IF_ERROR(ref::requireInputs(desc, 2));
  KILN_RETURN_IF_ERROR(ref::requireOutputs(desc, 1));
  return ref::requireOutputType(desc, 0, {DataType::kFloat32, DataType::kFloat64});
}

Expected<std::unique_ptr<Kernel>> createReferenceAffineGrid(const LayerDesc& desc) {
  return ref::makeKernel<AffineGridKernel>(desc);
}

}  // namespace kiln
