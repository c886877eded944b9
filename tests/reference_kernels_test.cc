// Tests of the reference backend (src/backends/reference): every layer kind on small inputs with
// hand-computed expected values, plus the backend object, tactic names and kernel lifecycle.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <vector>

#include "backends/reference/reference.h"

namespace kiln {
namespace {

constexpr DataType kF32 = DataType::kFloat32;
constexpr DataType kF16 = DataType::kFloat16;
constexpr DataType kI32 = DataType::kInt32;
constexpr DataType kI64 = DataType::kInt64;
constexpr DataType kI8 = DataType::kInt8;
constexpr DataType kBool = DataType::kBool;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

template <class T>
Weights tensor(DataType t, Dims dims, std::vector<T> v) {
  return *Weights::copyFrom(t, std::move(dims), v.data(), v.size() * sizeof(T));
}
Weights f32(Dims dims, std::vector<float> v) {
  return tensor(kF32, std::move(dims), std::move(v));
}
Weights i64(Dims dims, std::vector<int64_t> v) {
  return tensor(kI64, std::move(dims), std::move(v));
}
Weights i32(Dims dims, std::vector<int32_t> v) {
  return tensor(kI32, std::move(dims), std::move(v));
}
Weights boolean(Dims dims, std::vector<uint8_t> v) {
  return tensor(kBool, std::move(dims), std::move(v));
}
/// 0, 1, 2, ... as f32.
Weights iota(Dims dims, float start = 0) {
  std::vector<float> v(static_cast<size_t>(volume(dims)));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = start + static_cast<float>(i);
  return f32(std::move(dims), std::move(v));
}

template <class T>
std::vector<T> values(const Weights& w) {
  return std::vector<T>(w.as<T>(), w.as<T>() + w.count());
}
std::vector<int> bools(const Weights& w) {
  std::vector<int> out;
  for (int64_t i = 0; i < w.count(); ++i)
    out.push_back(w.as<uint8_t>()[i]);
  return out;
}

void expectNear(const Weights& w, const std::vector<float>& expected, float tol = 1e-5f) {
  ASSERT_EQ(w.dtype(), kF32);
  ASSERT_EQ(static_cast<size_t>(w.count()), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(w.as<float>()[i])) << "at " << i;
    } else if (std::isinf(expected[i])) {
      EXPECT_EQ(w.as<float>()[i], expected[i]) << "at " << i;
    } else {
      EXPECT_NEAR(w.as<float>()[i], expected[i], tol) << "at " << i;
    }
  }
}

/// One layer with concrete inputs, run on the reference backend.
class Case {
 public:
  explicit Case(LayerAttrs attrs, std::string name = "L") {
    layer_.name = std::move(name);
    layer_.attrs = std::move(attrs);
  }
  Case(const Case&) = delete;
  Case& operator=(const Case&) = delete;

  /// A runtime input with these values.
  Case& in(Weights w) { return add(std::move(w), true, false); }
  /// A constant (param) input.
  Case& param(Weights w) { return add(std::move(w), true, true); }
  Case& ints(std::vector<int64_t> v) { return param(Weights::fromInts(v)); }
  /// An absent optional input.
  Case& absent() { return add(Weights(), false, false); }
  /// Declares an output (shape inference is not run: the expected dims are part of the test).
  Case& out(DataType t, Dims dims) {
    desc_.outputs.push_back({t, std::move(dims)});
    return *this;
  }

  LayerDesc& desc() {
    desc_.layer = &layer_;
    return desc_;
  }

  /// supports -> create -> reshape -> setup -> run; returns the outputs.
  Expected<std::vector<Weights>> run() {
    const Backend& backend = referenceBackend();
    KILN_RETURN_IF_ERROR(backend.supports(desc()));
    std::vector<const Tactic*> tactics = backend.tactics(desc_);
    if (tactics.size() != 1) return internalError("expected exactly one tactic");
    KILN_ASSIGN_OR_RETURN(auto kernel, tactics[0]->create(desc_));
    KILN_RETURN_IF_ERROR(kernel->reshape(desc_.inputs, desc_.outputs));
    std::vector<Weights> outs;
    std::vector<void*> outPtrs;
    for (const TensorDesc& t : desc_.outputs) {
      outs.push_back(*Weights::zeros(t.dtype, t.dims));
      outPtrs.push_back(outs.back().mutableData());
    }
    std::vector<const void*> inPtrs;
    for (size_t k = 0; k < values_.size(); ++k)
      inPtrs.push_back(desc_.inputPresent[k] ? values_[k].data() : nullptr);
    std::vector<char> workspace(kernel->workspaceBytes() + 1);
    KILN_RETURN_IF_ERROR(kernel->setup(inPtrs, outPtrs, workspace.data()));
    auto stream = backend.createStream();
    KILN_RETURN_IF_ERROR(kernel->run(*stream));
    KILN_RETURN_IF_ERROR(stream->synchronize());
    return outs;
  }

  /// The single output of a run that must succeed.
  Weights run1() {
    auto r = run();
    EXPECT_TRUE(r.hasValue()) << r.status().toString();
    if (!r) return Weights();
    const Weights w = r->at(0);
    EXPECT_EQ(w.dims(), desc_.outputs[0].dims);
    return w;
  }

 private:
  Case& add(Weights w, bool present, bool constant) {
    values_.push_back(std::move(w));
    const Weights& stored = values_.back();
    desc_.inputs.push_back(present ? TensorDesc{stored.dtype(), stored.dims()} : TensorDesc{});
    desc_.inputPresent.push_back(present);
    desc_.constantInputs.push_back(constant ? &stored : nullptr);
    return *this;
  }

  Layer layer_;
  LayerDesc desc_;
  std::deque<Weights> values_;  // stable addresses for constantInputs
};

// ---- backend object --------------------------------------------------------------------------

TEST(ReferenceBackend, IdentityAndMemory) {
  const Backend& b = referenceBackend();
  EXPECT_EQ(b.name(), "reference");
  EXPECT_EQ(b.memorySpace(), MemorySpace::kHost);
  EXPECT_FALSE(b.deviceSignature().empty());
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{100}}) {
    auto p = b.allocate(bytes);
    ASSERT_TRUE(p.hasValue());
    ASSERT_NE(*p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(*p) % 64, 0u);
    b.deallocate(*p);
  }
  auto s = b.createStream();
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->synchronize().isOk());
}

TEST(ReferenceBackend, OneTacticPerKindNamedInSnakeCase) {
  const Backend& b = referenceBackend();
  for (const char* name :
       {"reference.constant",      "reference.convolution", "reference.matrix_multiply",
        "reference.pooling",       "reference.activation",  "reference.unary",
        "reference.elementwise",   "reference.reduce",      "reference.softmax",
        "reference.normalization", "reference.shuffle",     "reference.concatenation",
        "reference.slice",         "reference.split",       "reference.gather",
        "reference.cast",          "reference.select",      "reference.fill",
        "reference.expand",        "reference.shape_of",    "reference.cumulative",
        "reference.pointwise",     "reference.attention"}) {
    const Tactic* t = b.findTactic(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->name(), name);
  }
  EXPECT_EQ(b.findTactic("reference.nope"), nullptr);
  EXPECT_EQ(b.findTactic("reference.matrix_multiply")->kind(), LayerKind::kMatrixMultiply);
}

TEST(ReferenceBackend, TacticRefusesOtherKinds) {
  Case c(UnaryAttrs{UnaryKind::kNeg}, "neg1");
  c.in(f32({1}, {1})).out(kF32, {1});
  Status s = referenceBackend().findTactic("reference.convolution")->supports(c.desc());
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("neg1"), std::string::npos) << s.message();
}

TEST(ReferenceBackend, UnsupportedDtypeNamesTheLayer) {
  Case c(ConvolutionAttrs{}, "conv_int");
  c.in(i32({1, 1, 2, 2}, {1, 2, 3, 4})).in(i32({1, 1, 1, 1}, {1})).out(kI32, {1, 1, 2, 2});
  Status s = referenceBackend().supports(c.desc());
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("conv_int"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("i32"), std::string::npos) << s.message();

  Case e(ActivationAttrs{ActivationKind::kRelu}, "relu_bool");
  e.in(tensor<uint8_t>(kBool, {1}, {0})).out(kBool, {1});
  Status s2 = referenceBackend().supports(e.desc());
  ASSERT_FALSE(s2.isOk());
  EXPECT_NE(s2.message().find("relu_bool"), std::string::npos) << s2.message();
  EXPECT_NE(s2.message().find("bool"), std::string::npos) << s2.message();

  // f16 and bf16 run through float32 (widened, computed, rounded back): the oracle at every
  // precision.
  Case h(ActivationAttrs{ActivationKind::kRelu}, "relu_f16");
  h.in(tensor<uint16_t>(kF16, {1}, {0})).out(kF16, {1});
  EXPECT_TRUE(referenceBackend().supports(h.desc()).isOk());
}

TEST(ReferenceBackend, LifecycleOutOfOrderIsAnError) {
  Case c(UnaryAttrs{UnaryKind::kNeg});
  c.in(f32({2}, {1, 2})).out(kF32, {2});
  auto kernel = referenceBackend().findTactic("reference.unary")->create(c.desc());
  ASSERT_TRUE(kernel.hasValue()) << kernel.status().toString();
  HostStream stream;
  EXPECT_FALSE((*kernel)->run(stream).isOk());  // before reshape
  float x[2] = {1, 2}, y[2] = {0, 0};
  EXPECT_FALSE((*kernel)->setup({x}, {y}, nullptr).isOk());  // before reshape
  ASSERT_TRUE((*kernel)->reshape(c.desc().inputs, c.desc().outputs).isOk());
  EXPECT_FALSE((*kernel)->run(stream).isOk());                     // before setup
  EXPECT_FALSE((*kernel)->setup({nullptr}, {y}, nullptr).isOk());  // null input
  ASSERT_TRUE((*kernel)->setup({x}, {y}, nullptr).isOk());
  ASSERT_TRUE((*kernel)->run(stream).isOk());
  EXPECT_EQ(y[0], -1);
  EXPECT_EQ(y[1], -2);
}

TEST(ReferenceBackend, ReshapeAgainWithNewShapes) {
  Case c(ElementwiseAttrs{ElementwiseKind::kAdd});
  c.in(f32({2}, {1, 2})).in(f32({1}, {10})).out(kF32, {2});
  auto kernel = referenceBackend().findTactic("reference.elementwise")->create(c.desc());
  ASSERT_TRUE(kernel.hasValue()) << kernel.status().toString();
  HostStream stream;
  float a[3] = {1, 2, 3}, b[3] = {10, 20, 30}, y[3] = {0, 0, 0};
  ASSERT_TRUE((*kernel)->reshape({{kF32, {2}}, {kF32, {1}}}, {{kF32, {2}}}).isOk());
  ASSERT_TRUE((*kernel)->setup({a, b}, {y}, nullptr).isOk());
  ASSERT_TRUE((*kernel)->run(stream).isOk());
  EXPECT_EQ(y[1], 12);
  ASSERT_TRUE((*kernel)->reshape({{kF32, {3}}, {kF32, {3}}}, {{kF32, {3}}}).isOk());
  EXPECT_FALSE((*kernel)->run(stream).isOk());  // a new shape needs a new setup
  ASSERT_TRUE((*kernel)->setup({a, b}, {y}, nullptr).isOk());
  ASSERT_TRUE((*kernel)->run(stream).isOk());
  EXPECT_EQ(y[2], 33);
  // Shapes that do not broadcast are refused at reshape, not read out of bounds.
  EXPECT_FALSE((*kernel)->reshape({{kF32, {3}}, {kF32, {2}}}, {{kF32, {3}}}).isOk());
}

// ---- Constant --------------------------------------------------------------------------------

TEST(ReferenceConstant, CopiesWeights) {
  Case c(ConstantAttrs{i64({2}, {7, -8})});
  c.out(kI64, {2});
  EXPECT_EQ(values<int64_t>(c.run1()), (std::vector<int64_t>{7, -8}));
}

// ---- Convolution -----------------------------------------------------------------------------

TEST(ReferenceConvolution, PlainWithAndWithoutBias) {
  // y(i,j) = x(i,j) + x(i+1,j+1) for a diagonal 2x2 kernel.
  Case c(ConvolutionAttrs{});
  c.in(iota({1, 1, 3, 3}, 1)).in(f32({1, 1, 2, 2}, {1, 0, 0, 1})).out(kF32, {1, 1, 2, 2});
  expectNear(c.run1(), {6, 8, 12, 14});
  Case b(ConvolutionAttrs{});
  b.in(iota({1, 1, 3, 3}, 1)).in(f32({1, 1, 2, 2}, {1, 0, 0, 1})).in(f32({1}, {0.5f}));
  b.out(kF32, {1, 1, 2, 2});
  expectNear(b.run1(), {6.5f, 8.5f, 12.5f, 14.5f});
}

TEST(ReferenceConvolution, StridedPadded) {
  ConvolutionAttrs a;
  a.strides = {2, 2};
  a.padsBegin = {1, 1};
  a.padsEnd = {1, 1};
  Case c(a);
  c.in(iota({1, 1, 3, 3}, 1)).in(f32({1, 1, 3, 3}, std::vector<float>(9, 1))).absent();
  c.out(kF32, {1, 1, 2, 2});
  expectNear(c.run1(), {12, 16, 24, 28});
}

TEST(ReferenceConvolution, Dilated) {
  // With dilation 2 a 2x2 ones kernel sums x(i,j) + x(i,j+2) + x(i+2,j) + x(i+2,j+2) = 4x + 20.
  ConvolutionAttrs a;
  a.dilations = {2, 2};
  Case c(a);
  c.in(iota({1, 1, 4, 4})).in(f32({1, 1, 2, 2}, {1, 1, 1, 1})).out(kF32, {1, 1, 2, 2});
  expectNear(c.run1(), {20, 24, 36, 40});
}

TEST(ReferenceConvolution, GroupedWithBias) {
  ConvolutionAttrs a;
  a.group = 2;
  Case c(a);
  c.in(f32({1, 4, 1, 1}, {1, 2, 3, 4})).in(f32({2, 2, 1, 1}, {1, 2, 3, 4}));
  c.in(f32({2}, {10, 20})).out(kF32, {1, 2, 1, 1});
  expectNear(c.run1(), {15, 45});  // 1*1 + 2*2 + 10, 3*3 + 4*4 + 20
}

TEST(ReferenceConvolution, DepthwiseBatched) {
  ConvolutionAttrs a;
  a.group = 2;
  Case c(a);
  c.in(iota({2, 2, 2, 2}, 1)).in(f32({2, 1, 2, 2}, {1, 1, 1, 1, 1, 0, 0, -1}));
  c.out(kF32, {2, 2, 1, 1});
  // batch 0: ch0 = 1+2+3+4, ch1 = 5-8; batch 1: ch0 = 9+..+12, ch1 = 13-16.
  expectNear(c.run1(), {10, -3, 42, -3});
}

TEST(ReferenceConvolution, OneDimSameUpperAndThreeDim) {
  ConvolutionAttrs a;
  a.padding = PaddingMode::kSameUpper;
  Case c(a);
  c.in(iota({1, 1, 5}, 1)).in(f32({1, 1, 3}, {1, 2, 3})).out(kF32, {1, 1, 5});
  expectNear(c.run1(), {8, 14, 20, 26, 14});

  Case d(ConvolutionAttrs{});
  d.in(f32({1, 1, 2, 2, 2}, std::vector<float>(8, 1)))
      .in(f32({2, 1, 2, 2, 2}, std::vector<float>(16, 0.5f)))
      .out(kF32, {1, 2, 1, 1, 1});
  expectNear(d.run1(), {4, 4});
}

/// The textbook convolution formula, one output element at a time, for cross-checking.
std::vector<float> naiveConv2d(const Weights& x, const Weights& w, const ConvolutionAttrs& a,
                               int64_t oh, int64_t ow) {
  const int64_t n = x.dims()[0], c = x.dims()[1], h = x.dims()[2], wd = x.dims()[3];
  const int64_t m = w.dims()[0], cg = w.dims()[1], kh = w.dims()[2], kw = w.dims()[3];
  const int64_t mg = m / a.group;
  std::vector<float> y;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < m; ++oc)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = 0;
          for (int64_t ic = 0; ic < cg; ++ic)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t r = i * a.strides[0] - a.padsBegin[0] + p * a.dilations[0];
                const int64_t s = j * a.strides[1] - a.padsBegin[1] + q * a.dilations[1];
                if (r < 0 || r >= h || s < 0 || s >= wd) continue;
                const int64_t ch = (oc / mg) * cg + ic;
                acc += x.as<float>()[((b * c + ch) * h + r) * wd + s] *
                       w.as<float>()[((oc * cg + ic) * kh + p) * kw + q];
              }
          y.push_back(static_cast<float>(acc));
        }
  return y;
}

TEST(ReferenceConvolution, MatchesTextbookFormula) {
  // Asymmetric pads, strides and dilations that differ per dim, groups, odd sizes.
  ConvolutionAttrs a;
  a.strides = {2, 1};
  a.dilations = {1, 2};
  a.padsBegin = {1, 0};
  a.padsEnd = {0, 2};
  a.group = 2;
  const int64_t h = 7, wd = 6, kh = 3, kw = 2;
  const int64_t oh = (h + 1 - kh) / 2 + 1, ow = (wd + 2 - (kw - 1) * 2 - 1) + 1;
  std::vector<float> xv(2 * 4 * h * wd), wv(6 * 2 * kh * kw);
  for (size_t i = 0; i < xv.size(); ++i)
    xv[i] = static_cast<float>((i * 7) % 11) - 5;
  for (size_t i = 0; i < wv.size(); ++i)
    wv[i] = static_cast<float>((i * 5) % 7) - 3;
  Weights x = f32({2, 4, h, wd}, xv), w = f32({6, 2, kh, kw}, wv);
  Case c(a);
  c.in(x).in(w).out(kF32, {2, 6, oh, ow});
  expectNear(c.run1(), naiveConv2d(x, w, a, oh, ow));
}

// ---- MatrixMultiply --------------------------------------------------------------------------

TEST(ReferenceMatrixMultiply, GemmTransBBiasAlphaBeta) {
  MatrixMultiplyAttrs a;
  a.transB = true;
  a.alpha = 2;
  a.beta = 0.5f;
  Case c(a);
  c.in(iota({2, 3}, 1)).in(f32({2, 3}, {1, 0, 1, 0, 1, 0})).in(f32({2}, {1, -1}));
  c.out(kF32, {2, 2});
  // A @ B^T = [[4, 2], [10, 5]]; * 2 + 0.5 * [1, -1].
  expectNear(c.run1(), {8.5f, 3.5f, 20.5f, 9.5f});
}

TEST(ReferenceMatrixMultiply, TransAScalarBias) {
  MatrixMultiplyAttrs a;
  a.transA = true;
  Case c(a);
  c.in(f32({3, 2}, {1, 4, 2, 5, 3, 6})).in(f32({3, 2}, {1, 0, 0, 1, 1, 0})).in(f32({}, {100}));
  c.out(kF32, {2, 2});
  expectNear(c.run1(), {104, 102, 110, 105});
}

TEST(ReferenceMatrixMultiply, BatchedBroadcast) {
  // A[i] = (i + 1) * I, so y[i][j] = (i + 1) * B[j].
  Case c(MatrixMultiplyAttrs{});
  c.in(f32({2, 1, 2, 2}, {1, 0, 0, 1, 2, 0, 0, 2}));
  c.in(f32({3, 2, 2}, {1, 2, 3, 4, 0, 1, 1, 0, 1, 1, 1, 1})).out(kF32, {2, 3, 2, 2});
  expectNear(c.run1(), {1, 2, 3, 4, 0, 1, 1, 0, 1, 1, 1, 1,  //
                        2, 4, 6, 8, 0, 2, 2, 0, 2, 2, 2, 2});
}

TEST(ReferenceMatrixMultiply, OneDimOperands) {
  Case a(MatrixMultiplyAttrs{});
  a.in(f32({3}, {1, 2, 3})).in(f32({2, 3, 2}, {1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  a.out(kF32, {2, 2});
  expectNear(a.run1(), {4, 5, 6, 6});
  Case b(MatrixMultiplyAttrs{});
  b.in(iota({2, 3}, 1)).in(f32({3}, {1, 1, 1})).out(kF32, {2});
  expectNear(b.run1(), {6, 15});
  Case d(MatrixMultiplyAttrs{});
  d.in(f32({3}, {1, 2, 3})).in(f32({3}, {4, 5, 6})).out(kF32, {});
  expectNear(d.run1(), {32});
}

// ---- Pooling ---------------------------------------------------------------------------------

PoolingAttrs pool(PoolingKind kind, Dims kernel, Dims strides, Dims pads, bool includePad = false) {
  PoolingAttrs a;
  a.kind = kind;
  a.kernelShape = std::move(kernel);
  a.strides = std::move(strides);
  a.padsBegin = pads;
  a.padsEnd = pads;
  a.countIncludePad = includePad;
  return a;
}

TEST(ReferencePooling, MaxPadded) {
  Case c(pool(PoolingKind::kMax, {2, 2}, {1, 1}, {1, 1}));
  c.in(f32({1, 1, 2, 2}, {1, 2, 3, 4})).out(kF32, {1, 1, 3, 3});
  expectNear(c.run1(), {1, 2, 2, 3, 4, 4, 3, 4, 4});
}

TEST(ReferencePooling, AveragePaddedBothCountModes) {
  Case ex(pool(PoolingKind::kAverage, {2, 2}, {1, 1}, {1, 1}, false));
  ex.in(f32({1, 1, 2, 2}, {1, 2, 3, 4})).out(kF32, {1, 1, 3, 3});
  expectNear(ex.run1(), {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4});
  Case inc(pool(PoolingKind::kAverage, {2, 2}, {1, 1}, {1, 1}, true));
  inc.in(f32({1, 1, 2, 2}, {1, 2, 3, 4})).out(kF32, {1, 1, 3, 3});
  expectNear(inc.run1(), {0.25f, 0.75f, 0.5f, 1, 2.5f, 1.5f, 0.75f, 1.75f, 1});
}

TEST(ReferencePooling, StridedAverageAndCeilMode) {
  Case c(pool(PoolingKind::kAverage, {2, 2}, {2, 2}, {0, 0}));
  c.in(iota({1, 1, 4, 4})).out(kF32, {1, 1, 2, 2});
  expectNear(c.run1(), {2.5f, 4.5f, 10.5f, 12.5f});
  // 1-D, ceil mode: the last window [4, 5] hangs past the end; it is not charged for it.
  for (bool includePad : {false, true}) {
    PoolingAttrs a = pool(PoolingKind::kAverage, {2}, {2}, {0}, includePad);
    a.ceilMode = true;
    Case d(a);
    d.in(iota({1, 1, 5}, 1)).out(kF32, {1, 1, 3});
    expectNear(d.run1(), {1.5f, 3.5f, 5});
  }
  PoolingAttrs m = pool(PoolingKind::kMax, {2}, {2}, {0});
  m.ceilMode = true;
  Case e(m);
  e.in(iota({1, 1, 5}, 1)).out(kF32, {1, 1, 3});
  expectNear(e.run1(), {2, 4, 5});
}

TEST(ReferencePooling, Global) {
  PoolingAttrs a;
  a.kind = PoolingKind::kAverage;
  a.global = true;
  Case c(a);
  c.in(iota({1, 2, 2, 2}, 1)).out(kF32, {1, 2, 1, 1});
  expectNear(c.run1(), {2.5f, 6.5f});
  a.kind = PoolingKind::kMax;
  Case d(a);
  d.in(iota({1, 2, 2, 2}, 1)).out(kF32, {1, 2, 1, 1});
  expectNear(d.run1(), {4, 8});
}

// ---- Activation, Unary -----------------------------------------------------------------------

float act(ActivationKind kind, float x, float alpha = 0, float beta = 0) {
  Case c(ActivationAttrs{kind, alpha, beta});
  c.in(f32({1}, {x})).out(kF32, {1});
  Weights w = c.run1();
  return w.count() == 1 ? w.as<float>()[0] : kNaN;
}

TEST(ReferenceActivation, Values) {
  EXPECT_EQ(act(ActivationKind::kRelu, -2), 0);
  EXPECT_EQ(act(ActivationKind::kRelu, 3), 3);
  EXPECT_EQ(act(ActivationKind::kClip, 5, -1, 1), 1);
  EXPECT_EQ(act(ActivationKind::kClip, -5, -1, 1), -1);
  EXPECT_FLOAT_EQ(act(ActivationKind::kSigmoid, 0), 0.5f);
  EXPECT_FLOAT_EQ(act(ActivationKind::kSigmoid, -1000), 0.0f);
  EXPECT_FLOAT_EQ(act(ActivationKind::kLeakyRelu, -2, 0.1f), -0.2f);
  EXPECT_NEAR(act(ActivationKind::kElu, -1, 1), std::exp(-1.0) - 1, 1e-6);
  EXPECT_FLOAT_EQ(act(ActivationKind::kHardSigmoid, 1, 0.2f, 0.5f), 0.7f);
  EXPECT_NEAR(act(ActivationKind::kSoftplus, 0), std::log(2.0), 1e-6);
  EXPECT_FLOAT_EQ(act(ActivationKind::kSoftplus, 1000), 1000);
  EXPECT_NEAR(act(ActivationKind::kGeluErf, 1), 0.8413447f, 1e-6);
  EXPECT_NEAR(act(ActivationKind::kGeluTanh, 1), 0.8411920f, 1e-6);
  EXPECT_FLOAT_EQ(act(ActivationKind::kHardSwish, 3), 3);
  EXPECT_FLOAT_EQ(act(ActivationKind::kHardSwish, -3), 0);
  EXPECT_NEAR(act(ActivationKind::kHardSwish, 1), 2.0f / 3, 1e-6);
  EXPECT_NEAR(act(ActivationKind::kSelu, -1, 1.67326f, 1.0507f),
              1.0507 * 1.67326 * (std::exp(-1.0) - 1), 1e-5);
  EXPECT_TRUE(std::isnan(act(ActivationKind::kRelu, kNaN)));
  Case c(ActivationAttrs{ActivationKind::kClip, -5, 1000});  // integer clip; 1000 saturates
  c.in(tensor<int8_t>(kI8, {3}, {-100, 3, 127})).out(kI8, {3});
  EXPECT_EQ(values<int8_t>(c.run1()), (std::vector<int8_t>{-5, 3, 127}));
}

TEST(ReferenceUnary, FloatKinds) {
  auto run = [](UnaryKind k, std::vector<float> x) {
    Case c(UnaryAttrs{k});
    c.in(f32({static_cast<int64_t>(x.size())}, x)).out(kF32, {static_cast<int64_t>(x.size())});
    return c.run1();
  };
  expectNear(run(UnaryKind::kRound, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f}), {0, 2, 2, 0, -2, 2});
  expectNear(run(UnaryKind::kErf, {0, 1}), {0, 0.8427008f});
  expectNear(run(UnaryKind::kSign, {-3, 0, 2}), {-1, 0, 1});
  expectNear(run(UnaryKind::kReciprocal, {4}), {0.25f});
  expectNear(run(UnaryKind::kFloor, {-1.5f}), {-2});
  expectNear(run(UnaryKind::kSqrt, {9}), {3});
}

TEST(ReferenceUnary, BoolAndIntKinds) {
  Case n(UnaryAttrs{UnaryKind::kIsNaN});
  n.in(f32({3}, {1, kNaN, kInf})).out(kBool, {3});
  EXPECT_EQ(bools(n.run1()), (std::vector<int>{0, 1, 0}));
  Case i(UnaryAttrs{UnaryKind::kIsInf});
  i.in(f32({3}, {1, kNaN, -kInf})).out(kBool, {3});
  EXPECT_EQ(bools(i.run1()), (std::vector<int>{0, 0, 1}));
  Case t(UnaryAttrs{UnaryKind::kNot});
  t.in(boolean({2}, {1, 0})).out(kBool, {2});
  EXPECT_EQ(bools(t.run1()), (std::vector<int>{0, 1}));
  Case a(UnaryAttrs{UnaryKind::kAbs});
  a.in(i64({2}, {-5, 6})).out(kI64, {2});
  EXPECT_EQ(values<int64_t>(a.run1()), (std::vector<int64_t>{5, 6}));
  Case e(UnaryAttrs{UnaryKind::kExp}, "exp_int");  // float-only kinds refuse integers
  e.in(i64({1}, {1})).out(kI64, {1});
  EXPECT_FALSE(referenceBackend().supports(e.desc()).isOk());
}

// ---- Elementwise, Select ---------------------------------------------------------------------

TEST(ReferenceElementwise, BroadcastArithmetic) {
  Case c(ElementwiseAttrs{ElementwiseKind::kAdd});
  c.in(iota({2, 3}, 1)).in(f32({3}, {10, 20, 30})).out(kF32, {2, 3});
  expectNear(c.run1(), {11, 22, 33, 14, 25, 36});
  Case o(ElementwiseAttrs{ElementwiseKind::kMul});  // outer product by broadcasting both ways
  o.in(f32({2, 1}, {1, 2})).in(f32({1, 3}, {1, 10, 100})).out(kF32, {2, 3});
  expectNear(o.run1(), {1, 10, 100, 2, 20, 200});
  Case m(ElementwiseAttrs{ElementwiseKind::kMax});
  m.in(f32({3}, {1, 5, kNaN})).in(f32({}, {3})).out(kF32, {3});
  expectNear(m.run1(), {3, 5, kNaN});
}

TEST(ReferenceElementwise, IntegerDivisionTruncates) {
  Case c(ElementwiseAttrs{ElementwiseKind::kDiv});
  c.in(i32({5}, {7, -7, 7, -7, 3})).in(i32({5}, {2, 2, -2, -2, 0})).out(kI32, {5});
  EXPECT_EQ(values<int32_t>(c.run1()), (std::vector<int32_t>{3, -3, -3, 3, 0}));
  Case s(ElementwiseAttrs{ElementwiseKind::kSub});
  s.in(i64({2}, {5, 0})).in(i64({1}, {7})).out(kI64, {2});
  EXPECT_EQ(values<int64_t>(s.run1()), (std::vector<int64_t>{-2, -7}));
}

TEST(ReferenceElementwise, EightBitIntegersWrap) {
  Case c(ElementwiseAttrs{ElementwiseKind::kAdd});
  c.in(tensor<int8_t>(kI8, {2}, {100, -128})).in(tensor<int8_t>(kI8, {}, {100})).out(kI8, {2});
  EXPECT_EQ(values<int8_t>(c.run1()), (std::vector<int8_t>{-56, -28}));
  Case d(ElementwiseAttrs{ElementwiseKind::kDiv});
  d.in(tensor<uint8_t>(DataType::kUInt8, {2}, {255, 7}))
      .in(tensor<uint8_t>(DataType::kUInt8, {2}, {2, 0}))
      .out(DataType::kUInt8, {2});
  EXPECT_EQ(values<uint8_t>(d.run1()), (std::vector<uint8_t>{127, 0}));
}

TEST(ReferenceElementwise, ComparisonsGiveBool) {
  Case c(ElementwiseAttrs{ElementwiseKind::kLess});
  c.in(f32({3}, {1, 5, 3})).in(f32({}, {3})).out(kBool, {3});
  EXPECT_EQ(bools(c.run1()), (std::vector<int>{1, 0, 0}));
  Case e(ElementwiseAttrs{ElementwiseKind::kEqual});
  e.in(i64({2, 1}, {1, 2})).in(i64({2}, {1, 2})).out(kBool, {2, 2});
  EXPECT_EQ(bools(e.run1()), (std::vector<int>{1, 0, 0, 1}));
  Case g(ElementwiseAttrs{ElementwiseKind::kGreaterOrEqual});
  g.in(i32({3}, {1, 2, 3})).in(i32({3}, {2, 2, 2})).out(kBool, {3});
  EXPECT_EQ(bools(g.run1()), (std::vector<int>{0, 1, 1}));
}

TEST(ReferenceElementwise, LogicalAndPow) {
  Case x(ElementwiseAttrs{ElementwiseKind::kXor});
  x.in(boolean({4}, {0, 0, 1, 1})).in(boolean({4}, {0, 1, 0, 1})).out(kBool, {4});
  EXPECT_EQ(bools(x.run1()), (std::vector<int>{0, 1, 1, 0}));
  Case a(ElementwiseAttrs{ElementwiseKind::kAnd});
  a.in(boolean({4}, {0, 0, 1, 1})).in(boolean({4}, {0, 1, 0, 1})).out(kBool, {4});
  EXPECT_EQ(bools(a.run1()), (std::vector<int>{0, 0, 0, 1}));
  Case p(ElementwiseAttrs{ElementwiseKind::kPow});  // f32 base, i64 exponent
  p.in(f32({2}, {2, 3})).in(i64({}, {3})).out(kF32, {2});
  expectNear(p.run1(), {8, 27});
  Case q(ElementwiseAttrs{ElementwiseKind::kPow});
  q.in(i64({2}, {2, -3})).in(i64({2}, {10, 3})).out(kI64, {2});
  EXPECT_EQ(values<int64_t>(q.run1()), (std::vector<int64_t>{1024, -27}));
}

TEST(ReferenceElementwise, MixedDtypesRefused) {
  Case c(ElementwiseAttrs{ElementwiseKind::kAdd}, "mixed");
  c.in(f32({1}, {1})).in(i64({1}, {1})).out(kF32, {1});
  Status s = referenceBackend().supports(c.desc());
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("mixed"), std::string::npos);
}

TEST(ReferenceSelect, Broadcasts) {
  Case c(SelectAttrs{});
  c.in(boolean({2, 1}, {1, 0})).in(f32({1, 3}, {1, 2, 3})).in(f32({}, {-1})).out(kF32, {2, 3});
  expectNear(c.run1(), {1, 2, 3, -1, -1, -1});
  Case i(SelectAttrs{});
  i.in(boolean({3}, {0, 1, 0})).in(i64({3}, {1, 2, 3})).in(i64({3}, {4, 5, 6})).out(kI64, {3});
  EXPECT_EQ(values<int64_t>(i.run1()), (std::vector<int64_t>{4, 2, 6}));
}

// ---- Reduce, Softmax, Normalization, Cumulative ----------------------------------------------

TEST(ReferenceReduce, Kinds) {
  auto red = [](ReduceKind k, bool keep, std::vector<int64_t> axes, Dims out) {
    ReduceAttrs a;
    a.kind = k;
    a.keepDims = keep;
    Case c(a);
    c.in(iota({2, 3}, 1));
    if (!axes.empty()) c.ints(axes);
    c.out(kF32, std::move(out));
    return c.run1();
  };
  expectNear(red(ReduceKind::kSum, true, {1}, {2, 1}), {6, 15});
  expectNear(red(ReduceKind::kMean, false, {0}, {3}), {2.5f, 3.5f, 4.5f});
  expectNear(red(ReduceKind::kMax, true, {}, {1, 1}), {6});
  expectNear(red(ReduceKind::kMin, false, {-1}, {2}), {1, 4});
  expectNear(red(ReduceKind::kProd, false, {0, 1}, {}), {720});
  expectNear(red(ReduceKind::kL2, false, {1}, {2}), {3.7416574f, 8.7749643f});
  expectNear(red(ReduceKind::kLogSumExp, false, {0}, {3}),
             {4 + std::log1p(std::exp(-3.0f)), 5 + std::log1p(std::exp(-3.0f)),
              6 + std::log1p(std::exp(-3.0f))});

  ReduceAttrs noop;
  noop.noopWithEmptyAxes = true;
  Case n(noop);
  n.in(iota({2, 2})).out(kF32, {2, 2});
  expectNear(n.run1(), {0, 1, 2, 3});

  ReduceAttrs isum;
  isum.keepDims = false;
  Case i(isum);
  i.in(i64({2, 2}, {1, 2, 3, -10})).ints({0}).out(kI64, {2});
  EXPECT_EQ(values<int64_t>(i.run1()), (std::vector<int64_t>{4, -8}));
}

TEST(ReferenceSoftmax, InnerAxisAndLog) {
  Case c(SoftmaxAttrs{1, false});
  c.in(f32({2, 3, 2}, {0, 0, 1, 0, 2, 0, 1, 3, 1, 2, 1, 1})).out(kF32, {2, 3, 2});
  const float a = 0.09003057f, b = 0.24472847f, d = 0.66524096f, t = 1.0f / 3;
  expectNear(c.run1(), {a, t, b, t, d, t, t, d, t, b, t, a});
  Case l(SoftmaxAttrs{-1, true});
  l.in(f32({1, 2}, {1000, 1000})).out(kF32, {1, 2});
  expectNear(l.run1(), {-std::log(2.0f), -std::log(2.0f)});
}

TEST(ReferenceNormalization, LayerNorm) {
  NormalizationAttrs a;
  a.axis = 1;
  a.epsilon = 0;
  Case c(a);
  c.in(f32({2, 2, 2}, {1, 2, 3, 4, 2, 2, 2, 2}));
  c.in(f32({2, 2}, {1, 1, 2, 2})).in(f32({2, 2}, {0, 0, 0, 1})).out(kF32, {2, 2, 2});
  // Row 0: mean 2.5, variance 1.25. (Row 1 is constant: with eps 0 it is 0/0, not checked.)
  auto r = c.run();
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  const float s = 1 / std::sqrt(1.25f);
  const float* y = r->at(0).as<float>();
  EXPECT_NEAR(y[0], -1.5f * s, 1e-5);
  EXPECT_NEAR(y[1], -0.5f * s, 1e-5);
  EXPECT_NEAR(y[2], 2 * 0.5f * s, 1e-5);
  EXPECT_NEAR(y[3], 2 * 1.5f * s + 1, 1e-5);

  NormalizationAttrs e;  // axis -1, eps 1e-5, no bias
  Case d(e);
  d.in(f32({2, 2}, {2, 2, 0, 4})).in(f32({2}, {1, 3})).absent().out(kF32, {2, 2});
  expectNear(d.run1(), {0, 0, -1, 3}, 1e-4f);
}

TEST(ReferenceCumulative, ExclusiveReverse) {
  auto cum = [](bool exclusive, bool reverse) {
    Case c(CumulativeAttrs{exclusive, reverse});
    c.in(f32({3}, {1, 2, 3})).param(Weights::fromInts({0}, true)).out(kF32, {3});
    return c.run1();
  };
  expectNear(cum(false, false), {1, 3, 6});
  expectNear(cum(true, false), {0, 1, 3});
  expectNear(cum(false, true), {6, 5, 3});
  expectNear(cum(true, true), {5, 3, 0});
  Case i(CumulativeAttrs{});
  i.in(i32({2, 2}, {1, 2, 3, 4})).param(Weights::fromInts({-2}, true)).out(kI32, {2, 2});
  EXPECT_EQ(values<int32_t>(i.run1()), (std::vector<int32_t>{1, 2, 4, 6}));
}

// ---- Shuffle, Concatenation, Slice, Split, Expand --------------------------------------------

TEST(ReferenceShuffle, ReshapeTransposeFlatten) {
  ShuffleAttrs r;
  Case c(r);
  c.in(iota({2, 3})).ints({3, 2}).out(kF32, {3, 2});
  expectNear(c.run1(), {0, 1, 2, 3, 4, 5});
  ShuffleAttrs t;
  t.mode = ShuffleMode::kTranspose;
  t.perm = {1, 0};
  Case d(t);
  d.in(iota({2, 3}, 1)).out(kF32, {3, 2});
  expectNear(d.run1(), {1, 4, 2, 5, 3, 6});
  // [2,3,4] with perm [2,0,1]: y[k][i][j] = x[i][j][k] = 12i + 4j + k.
  t.perm = {2, 0, 1};
  Case e(t);
  e.in(iota({2, 3, 4})).out(kF32, {4, 2, 3});
  std::vector<float> expect;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        expect.push_back(static_cast<float>(12 * i + 4 * j + k));
  expectNear(e.run1(), expect);
  t.perm = {};  // reverse
  Case g(t);
  g.in(i64({2, 1, 2}, {1, 2, 3, 4})).out(kI64, {2, 1, 2});
  EXPECT_EQ(values<int64_t>(g.run1()), (std::vector<int64_t>{1, 3, 2, 4}));
  ShuffleAttrs f;
  f.mode = ShuffleMode::kFlatten;
  Case h(f);
  h.in(iota({2, 2, 2})).out(kF32, {2, 4});
  expectNear(h.run1(), {0, 1, 2, 3, 4, 5, 6, 7});
}

TEST(ReferenceConcatenation, AlongInnerAxis) {
  Case c(ConcatenationAttrs{-1});
  c.in(i64({2, 1}, {1, 2})).in(i64({2, 2}, {3, 4, 5, 6})).out(kI64, {2, 3});
  EXPECT_EQ(values<int64_t>(c.run1()), (std::vector<int64_t>{1, 3, 4, 2, 5, 6}));
}

TEST(ReferenceSlice, NegativeStepsAndClamping) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  Case c(SliceAttrs{});
  c.in(iota({5})).ints({-1}).ints({kMin}).ints({0}).ints({-1}).out(kF32, {5});
  expectNear(c.run1(), {4, 3, 2, 1, 0});
  Case d(SliceAttrs{});
  d.in(iota({5})).ints({4}).ints({0}).absent().ints({-2}).out(kF32, {2});
  expectNear(d.run1(), {4, 2});
  Case e(SliceAttrs{});
  e.in(iota({3, 4})).ints({0, 3}).ints({100, 0}).ints({0, -1}).ints({2, -1}).out(kF32, {2, 3});
  expectNear(e.run1(), {3, 2, 1, 11, 10, 9});
  Case f(SliceAttrs{});  // axes absent, steps absent
  f.in(iota({2, 3})).ints({1, 1}).ints({2, 3}).out(kF32, {1, 2});
  expectNear(f.run1(), {4, 5});
}

TEST(ReferenceSplit, UnequalParts) {
  Case c(SplitAttrs{1, 0});
  c.in(iota({2, 5})).ints({2, 3}).out(kF32, {2, 2}).out(kF32, {2, 3});
  auto r = c.run();
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  expectNear(r->at(0), {0, 1, 5, 6});
  expectNear(r->at(1), {2, 3, 4, 7, 8, 9});
  Case h(SplitAttrs{0, 2});  // f16 moves as bytes
  h.in(tensor<uint16_t>(kF16, {3}, {0x3c00, 0x4000, 0x4200})).out(kF16, {2}).out(kF16, {1});
  auto hr = h.run();
  ASSERT_TRUE(hr.hasValue()) << hr.status().toString();
  EXPECT_EQ(values<uint16_t>(hr->at(0)), (std::vector<uint16_t>{0x3c00, 0x4000}));
  EXPECT_EQ(values<uint16_t>(hr->at(1)), (std::vector<uint16_t>{0x4200}));
}

TEST(ReferenceExpand, Broadcasts) {
  Case c(ExpandAttrs{});
  c.in(f32({3, 1}, {1, 2, 3})).ints({2, 1, 2}).out(kF32, {2, 3, 2});
  expectNear(c.run1(), {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
}

// ---- Gather ----------------------------------------------------------------------------------

TEST(ReferenceGather, DefaultWithNegativeIndices) {
  Case c(GatherAttrs{});
  c.in(iota({3, 2}, 1)).in(i64({2}, {2, -3})).out(kF32, {2, 2});
  expectNear(c.run1(), {5, 6, 1, 2});
  GatherAttrs a;
  a.axis = 1;
  Case d(a);
  d.in(iota({3, 2}, 1)).in(i32({1, 2}, {1, 0})).out(kF32, {3, 1, 2});
  expectNear(d.run1(), {2, 1, 4, 3, 6, 5});
}

TEST(ReferenceGather, Elements) {
  GatherAttrs a;
  a.mode = GatherMode::kElements;
  a.axis = 1;
  Case c(a);
  c.in(iota({2, 2}, 1)).in(i64({2, 2}, {0, 0, 1, 0})).out(kF32, {2, 2});
  expectNear(c.run1(), {1, 1, 4, 3});
  a.axis = 0;
  Case d(a);
  d.in(iota({3, 3}, 1)).in(i64({2, 3}, {1, 2, 0, 2, 0, 0})).out(kF32, {2, 3});
  expectNear(d.run1(), {4, 8, 3, 7, 2, 3});
}

TEST(ReferenceGather, ND) {
  GatherAttrs a;
  a.mode = GatherMode::kND;
  Case c(a);
  c.in(iota({2, 2})).in(i64({2, 2}, {0, 0, 1, 1})).out(kF32, {2});
  expectNear(c.run1(), {0, 3});
  Case d(a);
  d.in(iota({2, 2})).in(i64({2, 1}, {1, 0})).out(kF32, {2, 2});
  expectNear(d.run1(), {2, 3, 0, 1});
  a.batchDims = 1;
  Case e(a);
  e.in(iota({2, 2, 2})).in(i64({2, 1}, {1, 0})).out(kF32, {2, 2});
  expectNear(e.run1(), {2, 3, 4, 5});
}

TEST(ReferenceGather, OutOfRangeIndexIsAnError) {
  Case c(GatherAttrs{}, "gather_oob");
  c.in(iota({3})).in(i64({1}, {3})).out(kF32, {1});
  auto r = c.run();
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.status().message().find("gather_oob"), std::string::npos);
}

// ---- Cast ------------------------------------------------------------------------------------

TEST(ReferenceCast, FloatToIntTruncatesAndToBool) {
  Case c(CastAttrs{kI64});
  c.in(f32({5}, {1.9f, -1.9f, 0.5f, -0.0f, kNaN})).out(kI64, {5});
  EXPECT_EQ(values<int64_t>(c.run1()), (std::vector<int64_t>{1, -1, 0, 0, 0}));
  Case b(CastAttrs{kBool});
  b.in(f32({4}, {0, 0.5f, -1, kNaN})).out(kBool, {4});
  EXPECT_EQ(bools(b.run1()), (std::vector<int>{0, 1, 1, 1}));
  Case f(CastAttrs{kF32});
  f.in(boolean({2}, {1, 0})).out(kF32, {2});
  expectNear(f.run1(), {1, 0});
  Case w(CastAttrs{kI8});  // narrowing integer casts wrap
  w.in(i64({2}, {300, -1})).out(kI8, {2});
  EXPECT_EQ(values<int8_t>(w.run1()), (std::vector<int8_t>{44, -1}));
}

TEST(ReferenceCast, HalfAndBFloat16RoundTrip) {
  Case h(CastAttrs{kF16});
  h.in(f32({5}, {1, 65504, 1e-8f, 0.1f, 70000})).out(kF16, {5});
  Weights half = h.run1();
  EXPECT_EQ(values<uint16_t>(half),
            (std::vector<uint16_t>{0x3c00, 0x7bff, 0x0000, 0x2e66, 0x7c00}));
  Case back(CastAttrs{kF32});
  back.in(half).out(kF32, {5});
  expectNear(back.run1(), {1, 65504, 0, 0.0999755859375f, kInf}, 0);
  Case b(CastAttrs{DataType::kBFloat16});
  b.in(f32({2}, {1, 3.14159f})).out(DataType::kBFloat16, {2});
  EXPECT_EQ(values<uint16_t>(b.run1()), (std::vector<uint16_t>{0x3f80, 0x4049}));
}

TEST(ReferenceCast, Float8SaturateAndNonSaturate) {
  // 448 is e4m3fn's largest value (0x7e); 0x7f is NaN; e5m2 keeps infinities (0x7c).
  const std::vector<float> x = {1.0f, 1.0625f, 1.1875f, 460, 1e6f, kInf, -kInf, kNaN, 0.001953125f};
  CastAttrs sat{DataType::kFloat8E4M3FN};
  Case s(sat);
  s.in(f32({9}, x)).out(DataType::kFloat8E4M3FN, {9});
  // ties round to even: 1.0625 -> 1.0 (0x38), 1.1875 -> 1.25 (0x3a); 2^-9 is the subnormal 0x01
  EXPECT_EQ(values<uint8_t>(s.run1()),
            (std::vector<uint8_t>{0x38, 0x38, 0x3a, 0x7e, 0x7e, 0x7e, 0xfe, 0x7f, 0x01}));
  CastAttrs noSat{DataType::kFloat8E4M3FN, /*saturate=*/false};
  Case n(noSat);
  n.in(f32({9}, x)).out(DataType::kFloat8E4M3FN, {9});
  EXPECT_EQ(values<uint8_t>(n.run1()),
            (std::vector<uint8_t>{0x38, 0x38, 0x3a, 0x7e, 0x7f, 0x7f, 0xff, 0x7f, 0x01}));
  CastAttrs e5{DataType::kFloat8E5M2, /*saturate=*/false};
  Case e(e5);
  e.in(f32({3}, {1e6f, -kInf, 57344})).out(DataType::kFloat8E5M2, {3});
  EXPECT_EQ(values<uint8_t>(e.run1()), (std::vector<uint8_t>{0x7c, 0xfc, 0x7b}));
  // fnuz: no negative zero, one NaN (0x80), saturating infinities to the largest value
  Case z(CastAttrs{DataType::kFloat8E4M3FNUZ});
  z.in(f32({4}, {-0.0f, kNaN, kInf, 240})).out(DataType::kFloat8E4M3FNUZ, {4});
  EXPECT_EQ(values<uint8_t>(z.run1()), (std::vector<uint8_t>{0x00, 0x80, 0x7f, 0x7f}));
  // and back to f32, exactly
  Case back(CastAttrs{kF32});
  back.in(tensor<uint8_t>(DataType::kFloat8E5M2, {3}, {0x7c, 0x7e, 0x01})).out(kF32, {3});
  expectNear(back.run1(), {kInf, kNaN, 1.52587890625e-05f}, 0);
}

TEST(ReferenceCast, Float4AndE8M0) {
  Case f(CastAttrs{DataType::kFloat4E2M1});
  f.in(f32({7}, {0.25f, 0.75f, 5, 9, -3.5f, kNaN, -kInf})).out(DataType::kFloat4E2M1, {7});
  // 0.25 -> 0 and 0.75 -> 1 and 5 -> 4 (ties to even), 9 and -inf saturate to +-6, NaN -> 0x8
  EXPECT_EQ(values<uint8_t>(f.run1()), (std::vector<uint8_t>{0x0, 0x2, 0x6, 0x7, 0xe, 0x8, 0xf}));
  Case up(CastAttrs{DataType::kFloat8E8M0});
  up.in(f32({5}, {0.124f, 1.1f, 8, 0, kInf})).out(DataType::kFloat8E8M0, {5});
  EXPECT_EQ(values<uint8_t>(up.run1()), (std::vector<uint8_t>{124, 128, 130, 0, 254}));
  Case down(CastAttrs{DataType::kFloat8E8M0, true, /*roundMode=down*/ 1});
  down.in(f32({2}, {1.9f, 0.124f})).out(DataType::kFloat8E8M0, {2});
  EXPECT_EQ(values<uint8_t>(down.run1()), (std::vector<uint8_t>{127, 123}));
  Case nearest(CastAttrs{DataType::kFloat8E8M0, false, /*roundMode=nearest*/ 2});
  nearest.in(f32({3}, {1.4f, 1.5f, 0})).out(DataType::kFloat8E8M0, {3});
  EXPECT_EQ(values<uint8_t>(nearest.run1()), (std::vector<uint8_t>{127, 128, 255}));
  Case bad(CastAttrs{DataType::kFloat8E8M0, true, 7}, "bad_round");
  bad.in(f32({1}, {1})).out(DataType::kFloat8E8M0, {1});
  auto r = bad.run();
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.status().message().find("round_mode"), std::string::npos);
}

TEST(ReferenceCast, SubByteIntegersTruncateThenWrap) {
  Case i4(CastAttrs{DataType::kInt4});
  i4.in(f32({6}, {-9, -8.5f, 7.9f, 8, 15, kNaN})).out(DataType::kInt4, {6});
  EXPECT_EQ(values<int8_t>(i4.run1()), (std::vector<int8_t>{7, -8, 7, -8, -1, 0}));
  Case u2(CastAttrs{DataType::kUInt2});
  u2.in(i64({4}, {-3, -1, 3, 5})).out(DataType::kUInt2, {4});
  EXPECT_EQ(values<uint8_t>(u2.run1()), (std::vector<uint8_t>{1, 3, 3, 1}));
  Case wide(CastAttrs{DataType::kInt16});
  wide.in(tensor<int8_t>(DataType::kInt4, {2}, {-8, 7})).out(DataType::kInt16, {2});
  EXPECT_EQ(values<int16_t>(wide.run1()), (std::vector<int16_t>{-8, 7}));
  Case u64(CastAttrs{DataType::kUInt64});
  u64.in(i64({2}, {-1, 5})).out(DataType::kUInt64, {2});
  EXPECT_EQ(values<uint64_t>(u64.run1()), (std::vector<uint64_t>{UINT64_MAX, 5}));
}

// ---- Fill, ShapeOf ---------------------------------------------------------------------------

TEST(ReferenceFill, FloatAndIntRange) {
  Case c(FillAttrs{});
  c.param(Weights::fromFloats({1}, true)).param(Weights::fromFloats({2}, true));
  c.param(Weights::fromFloats({0.25f}, true)).out(kF32, {4});
  expectNear(c.run1(), {1, 1.25f, 1.5f, 1.75f});
  Case d(FillAttrs{});
  d.param(Weights::fromInts({10}, true)).param(Weights::fromInts({4}, true));
  d.param(Weights::fromInts({-3}, true)).out(kI64, {2});
  EXPECT_EQ(values<int64_t>(d.run1()), (std::vector<int64_t>{10, 7}));
}

TEST(ReferenceShapeOf, StartEnd) {
  auto shape = [](int64_t start, int64_t end, Dims out) {
    Case c(ShapeOfAttrs{start, end});
    c.in(boolean({2, 3, 4}, std::vector<uint8_t>(24, 0))).out(kI64, std::move(out));
    return values<int64_t>(c.run1());
  };
  EXPECT_EQ(shape(0, std::numeric_limits<int64_t>::max(), {3}), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(shape(1, std::numeric_limits<int64_t>::max(), {2}), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(shape(0, -1, {2}), (std::vector<int64_t>{2, 3}));
}

}  // namespace
}  // namespace kiln
