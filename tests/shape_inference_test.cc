// Tests of shape and dtype inference (src/ir/shape_inference.h): one group per layer kind, each
// with the ONNX-defined results and the errors a malformed layer must give.
#include "ir/shape_inference.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <vector>

namespace kiln {
namespace {

constexpr DataType kF32 = DataType::kFloat32;
constexpr DataType kI64 = DataType::kInt64;
constexpr DataType kBool = DataType::kBool;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

/// Builds one layer and its LayerDesc: runtime inputs by type and dims, param inputs by value.
class Case {
 public:
  explicit Case(LayerAttrs attrs, int numOutputs = 1) {
    layer_.name = "L";
    layer_.attrs = std::move(attrs);
    for (int i = 0; i < numOutputs; ++i)
      layer_.outputs.push_back(i);
  }
  Case(const Case&) = delete;
  Case& operator=(const Case&) = delete;

  /// A runtime (non-constant) input.
  Case& in(DataType t, Dims dims) { return add({t, std::move(dims)}, true, nullptr); }
  /// A constant input with these values.
  Case& constant(Weights w) {
    weights_.push_back(std::move(w));
    const Weights& stored = weights_.back();
    return add({stored.dtype(), stored.dims()}, true, &stored);
  }
  Case& ints(std::vector<int64_t> v) { return constant(Weights::fromInts(v)); }
  Case& scalar(int64_t v) { return constant(Weights::fromInts({v}, /*scalar=*/true)); }
  Case& floatScalar(float v) { return constant(Weights::fromFloats({v}, /*scalar=*/true)); }
  /// An absent optional input.
  Case& absent() { return add({}, false, nullptr); }

  /// Infers with unknown values of non-constant inputs (the build-time path).
  Expected<std::vector<TensorType>> inferSymbolic() {
    desc_.layer = &layer_;
    return inferOutputs(desc_);
  }

  /// Infers on concrete dims (the run-time path); the outputs must be concrete too.
  Expected<std::vector<TensorDesc>> infer() {
    desc_.layer = &layer_;
    KILN_ASSIGN_OR_RETURN(std::vector<TensorType> types, inferOutputs(desc_));
    std::vector<TensorDesc> out;
    for (const TensorType& t : types) {
      auto dims = staticDims(t.shape);
      if (!dims) return internalError("symbolic output " + shapeToString(t.shape));
      out.push_back({t.dtype, *dims});
    }
    return out;
  }

 private:
  Case& add(TensorDesc t, bool present, const Weights* w) {
    desc_.inputs.push_back({t.dtype, shapeFromDims(t.dims)});
    desc_.inputPresent.push_back(present);
    desc_.constantInputs.push_back(w);
    desc_.valueInputs.push_back(nullptr);
    return *this;
  }

  Layer layer_;
  std::deque<Weights> weights_;  // stable addresses
  InferDesc desc_;
};

/// Expects a single output of type `t` and dims `dims`.
void expectOut(const Expected<std::vector<TensorDesc>>& r, DataType t, const Dims& dims) {
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(dataTypeName((*r)[0].dtype), std::string(dataTypeName(t)));
  EXPECT_EQ(dimsToString((*r)[0].dims), dimsToString(dims));
}

/// Expects an error naming layer "L" and containing each of `parts`.
void expectError(const Expected<std::vector<TensorDesc>>& r,
                 const std::vector<std::string>& parts) {
  ASSERT_FALSE(r.hasValue()) << "expected an error, got " << dimsToString((*r)[0].dims);
  const std::string m = r.status().message();  // status() returns a copy
  EXPECT_NE(m.find("layer 'L'"), std::string::npos) << m;
  for (const auto& p : parts)
    EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' in: " << m;
}

ConvolutionAttrs conv(std::vector<int64_t> strides = {}, std::vector<int64_t> pb = {},
                      std::vector<int64_t> pe = {}, int64_t group = 1) {
  ConvolutionAttrs a;
  a.strides = std::move(strides);
  a.padsBegin = std::move(pb);
  a.padsEnd = std::move(pe);
  a.group = group;
  return a;
}

PoolingAttrs pool(std::vector<int64_t> kernel, std::vector<int64_t> strides = {},
                  std::vector<int64_t> pb = {}, std::vector<int64_t> pe = {},
                  bool ceilMode = false) {
  PoolingAttrs a;
  a.kernelShape = std::move(kernel);
  a.strides = std::move(strides);
  a.padsBegin = std::move(pb);
  a.padsEnd = std::move(pe);
  a.ceilMode = ceilMode;
  return a;
}

ShuffleAttrs shuffle(ShuffleMode mode) {
  ShuffleAttrs a;
  a.mode = mode;
  return a;
}

// ---- dispatcher and shared checks -----------------------------------------------------------

TEST(ShapeInference, ErrorsNameLayerAndKind) {
  Case c(ElementwiseAttrs{});
  c.in(kF32, {2, 3}).in(kF32, {4, 3});
  auto r = c.infer();
  expectError(r, {"(Elementwise)", "[2, 3]", "[4, 3]"});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
}

TEST(ShapeInference, WrongInputCount) {
  Case c(ElementwiseAttrs{});
  c.in(kF32, {2});
  expectError(c.infer(), {"expected 2 inputs, found 1"});
  Case conv3(ConvolutionAttrs{});
  conv3.in(kF32, {1, 1, 3, 3}).absent();
  expectError(conv3.infer(), {"input 1 is required but absent"});
}

TEST(ShapeInference, NonConstantParamInputGivesTheRankAndOpaqueDims) {
  // A reshape target that is not known when building: the rank comes from its length, the dims
  // are opaque (the run-time shape pass computes them).
  Case c(shuffle(ShuffleMode::kReshape));
  c.in(kF32, {2, 3}).in(kI64, {2});
  auto r = c.inferSymbolic();
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  ASSERT_EQ((*r)[0].shape.size(), 2u);
  EXPECT_FALSE((*r)[0].shape[0].isStatic());
  // Unsqueeze axes that depend on data: the rank is the input's plus their count.
  Case u(shuffle(ShuffleMode::kUnsqueeze));
  u.in(kF32, {2, 3}).in(kI64, {1});
  auto e = u.inferSymbolic();
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  EXPECT_EQ((*e)[0].shape.size(), 3u);
  // Gather-ND with a static index depth infers without the indices' values.
  Case g(GatherAttrs{GatherMode::kND, 0, 0});
  g.in(kF32, {2, 3}).in(kI64, {4, 2});
  EXPECT_TRUE(g.inferSymbolic().hasValue());
}

TEST(ShapeInference, FloatParamRejected) {
  Case c(shuffle(ShuffleMode::kReshape));
  c.in(kF32, {2, 3}).constant(Weights::fromFloats({6}));
  expectError(c.infer(), {"integer", "f32"});
}

TEST(ShapeInference, OutputCountMustMatchLayer) {
  Case c(ActivationAttrs{}, /*numOutputs=*/2);
  c.in(kF32, {2});
  expectError(c.infer(), {"2 output tensors, expected 1"});
}

TEST(ShapeInference, Helpers) {
  Layer layer;
  layer.name = "L";
  layer.attrs = SoftmaxAttrs{};
  InferDesc d;
  d.layer = &layer;
  EXPECT_EQ(*normalizeAxis(d, -1, 4), 3);
  EXPECT_EQ(*normalizeAxis(d, 0, 1), 0);
  EXPECT_FALSE(normalizeAxis(d, 4, 4).hasValue());
  EXPECT_FALSE(normalizeAxis(d, -5, 4).hasValue());
  EXPECT_FALSE(normalizeAxis(d, 0, 0).hasValue());
  EXPECT_EQ(*broadcastShapes(d, {8, 1, 6, 1}, {7, 1, 5}), (Shape{8, 7, 6, 5}));
  EXPECT_EQ(*broadcastShapes(d, {}, {3}), (Shape{3}));
  EXPECT_EQ(*broadcastShapes(d, {0}, {1}), (Shape{0}));
  EXPECT_FALSE(broadcastShapes(d, {2, 3}, {3, 3}).hasValue());
  EXPECT_EQ(layerError(d, "boom").message(), "layer 'L' (Softmax): boom");
}

// ---- Constant, Convolution, MatrixMultiply, Pooling -----------------------------------------

TEST(ShapeInferenceConstant, WeightsTypeAndDims) {
  Case c(ConstantAttrs{*Weights::zeros(DataType::kInt32, {2, 5})});
  expectOut(c.infer(), DataType::kInt32, {2, 5});
}

TEST(ShapeInferenceConvolution, Basic) {
  Case c(conv({2, 2}, {3, 3}, {3, 3}));
  c.in(kF32, {1, 3, 224, 224}).in(kF32, {64, 3, 7, 7}).in(kF32, {64});
  expectOut(c.infer(), kF32, {1, 64, 112, 112});
}

TEST(ShapeInferenceConvolution, GroupedDilated1dAnd3d) {
  ConvolutionAttrs a = conv({}, {}, {}, 4);
  a.dilations = {2};
  Case c1(a);
  c1.in(kF32, {2, 8, 10}).in(kF32, {12, 2, 3});
  expectOut(c1.infer(), kF32, {2, 12, 6});  // 10 - 5 + 1
  Case c3(conv({1, 2, 3}));
  c3.in(kF32, {1, 1, 5, 6, 7}).in(kF32, {2, 1, 1, 2, 3}).absent();
  expectOut(c3.infer(), kF32, {1, 2, 5, 3, 2});
}

TEST(ShapeInferenceConvolution, AutoPadding) {
  ConvolutionAttrs a = conv({2, 2});
  a.padding = PaddingMode::kSameUpper;
  Case upper(a);
  upper.in(kF32, {1, 1, 7, 8}).in(kF32, {1, 1, 3, 3});
  expectOut(upper.infer(), kF32, {1, 1, 4, 4});
  a.padding = PaddingMode::kValid;
  a.padsBegin = {5, 5};  // ignored with auto padding
  Case valid(a);
  valid.in(kF32, {1, 1, 7, 8}).in(kF32, {1, 1, 3, 3});
  expectOut(valid.infer(), kF32, {1, 1, 3, 3});
}

TEST(ShapeInferenceConvolution, ResolveWindowPads) {
  Layer layer;
  layer.name = "L";
  layer.attrs = PoolingAttrs{};
  InferDesc d;
  d.layer = &layer;
  // in 7, k 4, s 2: out 4, total pad (4-1)*2+4-7 = 3.
  auto up = resolveWindow(d, {4}, {2}, {}, {}, {}, PaddingMode::kSameUpper, false, {1, 1, 7});
  ASSERT_TRUE(up.hasValue());
  EXPECT_EQ(up->padsBegin, (std::vector<Dim>{1}));
  EXPECT_EQ(up->padsEnd, (std::vector<Dim>{2}));
  EXPECT_EQ(up->outputSpatial, (std::vector<Dim>{4}));
  EXPECT_EQ(up->dilations, (std::vector<int64_t>{1}));
  auto low = resolveWindow(d, {4}, {2}, {}, {}, {}, PaddingMode::kSameLower, false, {1, 1, 7});
  ASSERT_TRUE(low.hasValue());
  EXPECT_EQ(low->padsBegin, (std::vector<Dim>{2}));
  EXPECT_EQ(low->padsEnd, (std::vector<Dim>{1}));
}

TEST(ShapeInferenceConvolution, Errors) {
  Case channels(ConvolutionAttrs{});
  channels.in(kF32, {1, 3, 8, 8}).in(kF32, {4, 2, 3, 3});
  expectError(channels.infer(), {"3 channels", "expect 2"});
  Case group(conv({}, {}, {}, 2));
  group.in(kF32, {1, 4, 8, 8}).in(kF32, {3, 2, 3, 3});
  expectError(group.infer(), {"not divisible by group 2"});
  Case rank(ConvolutionAttrs{});
  rank.in(kF32, {1, 3, 8}).in(kF32, {4, 3, 3, 3});
  expectError(rank.infer(), {"rank of x"});
  Case bias(ConvolutionAttrs{});
  bias.in(kF32, {1, 3, 8, 8}).in(kF32, {4, 3, 3, 3}).in(kF32, {5});
  expectError(bias.infer(), {"bias must have dims [4]", "[5]"});
  ConvolutionAttrs ks;
  ks.kernelShape = {5, 5};
  Case kernel(ks);
  kernel.in(kF32, {1, 3, 8, 8}).in(kF32, {4, 3, 3, 3});
  expectError(kernel.infer(), {"kernel_shape [5, 5]", "[3, 3]"});
  Case big(ConvolutionAttrs{});
  big.in(kF32, {1, 3, 2, 8}).in(kF32, {4, 3, 3, 3});
  expectError(big.infer(), {"does not fit", "spatial dim 0"});
  Case stride(conv({0, 1}));
  stride.in(kF32, {1, 3, 8, 8}).in(kF32, {4, 3, 3, 3});
  expectError(stride.infer(), {"strides [0, 1]", "must be in [1, "});
  Case pads(conv({}, {1}));
  pads.in(kF32, {1, 3, 8, 8}).in(kF32, {4, 3, 3, 3});
  expectError(pads.infer(), {"pads_begin [1]", "expected 2"});
  Case type(ConvolutionAttrs{});
  type.in(kF32, {1, 3, 8, 8}).in(DataType::kFloat16, {4, 3, 3, 3});
  expectError(type.infer(), {"f16"});
}

TEST(ShapeInferenceMatrixMultiply, NumpySemantics) {
  auto mm = [](Dims a, Dims b, bool ta = false, bool tb = false) {
    MatrixMultiplyAttrs attrs;
    attrs.transA = ta;
    attrs.transB = tb;
    Case c(attrs);
    c.in(kF32, std::move(a)).in(kF32, std::move(b));
    return c.infer();
  };
  expectOut(mm({2, 3}, {3, 4}), kF32, {2, 4});
  expectOut(mm({3}, {3}), kF32, {});
  expectOut(mm({3}, {5, 3, 4}), kF32, {5, 4});
  expectOut(mm({5, 2, 3}, {3}), kF32, {5, 2});
  expectOut(mm({7, 1, 2, 3}, {5, 3, 4}), kF32, {7, 5, 2, 4});
  expectOut(mm({3, 2}, {4, 3}, true, true), kF32, {2, 4});
  expectOut(mm({3}, {4, 3}, true, true), kF32, {4});  // transA ignored for a vector
  expectError(mm({2, 3}, {4, 5}), {"inner dims differ", "[2, 3]", "K = 3", "[4, 5]", "K = 4"});
  expectError(mm({2, 2, 3}, {3, 3, 4}), {"cannot broadcast"});
  expectError(mm({}, {3}), {"rank >= 1"});
}

TEST(ShapeInferenceMatrixMultiply, BiasBroadcastsToOutput) {
  Case ok(MatrixMultiplyAttrs{});
  ok.in(kF32, {2, 3}).in(kF32, {3, 4}).in(kF32, {4});
  expectOut(ok.infer(), kF32, {2, 4});
  Case grows(MatrixMultiplyAttrs{});
  grows.in(kF32, {2, 3}).in(kF32, {3, 4}).in(kF32, {5, 2, 4});
  expectError(grows.infer(), {"C [5, 2, 4] does not broadcast", "[2, 4]"});
  Case types(MatrixMultiplyAttrs{});
  types.in(kF32, {2, 3}).in(kI64, {3, 4});
  expectError(types.infer(), {"f32", "i64"});
}

TEST(ShapeInferencePooling, WindowedAndGlobal) {
  Case basic(pool({3, 3}, {2, 2}, {1, 1}, {1, 1}));
  basic.in(kF32, {1, 64, 112, 112});
  expectOut(basic.infer(), kF32, {1, 64, 56, 56});
  Case floorMode(pool({2}, {2}));
  floorMode.in(kF32, {1, 1, 5});
  expectOut(floorMode.infer(), kF32, {1, 1, 2});
  Case ceilMode(pool({2}, {2}, {}, {}, true));
  ceilMode.in(kF32, {1, 1, 5});
  expectOut(ceilMode.infer(), kF32, {1, 1, 3});
  // ceil((5 + 2 - 2) / 2) + 1 = 4, but the 4th window would start at 6 >= 5 + 1 (end padding).
  Case dropped(pool({2}, {2}, {1}, {1}, true));
  dropped.in(kF32, {1, 1, 5});
  expectOut(dropped.infer(), kF32, {1, 1, 3});
  PoolingAttrs g;
  g.global = true;
  g.kind = PoolingKind::kAverage;
  Case global(g);
  global.in(kF32, {2, 8, 7, 9});
  expectOut(global.infer(), kF32, {2, 8, 1, 1});
}

TEST(ShapeInferencePooling, Errors) {
  Case noKernel(PoolingAttrs{});
  noKernel.in(kF32, {1, 1, 5, 5});
  expectError(noKernel.infer(), {"kernel_shape"});
  Case rank(pool({2, 2}));
  rank.in(kF32, {1, 1, 5});
  expectError(rank.infer(), {"kernel shape [2, 2] has 2 dims", "1 spatial"});
  Case small(pool({3}));
  small.in(kF32, {4, 2});
  expectError(small.infer(), {"rank >= 3"});
}

// ---- elementwise family ---------------------------------------------------------------------

TEST(ShapeInferenceActivation, SameTypeAndDims) {
  Case c(ActivationAttrs{ActivationKind::kClip, 0, 6});
  c.in(DataType::kFloat16, {2, 3});
  expectOut(c.infer(), DataType::kFloat16, {2, 3});
  Case b(ActivationAttrs{});
  b.in(kBool, {2});
  expectError(b.infer(), {"bool"});
}

TEST(ShapeInferenceUnary, BoolRules) {
  Case neg(UnaryAttrs{UnaryKind::kNeg});
  neg.in(kI64, {4});
  expectOut(neg.infer(), kI64, {4});
  Case notOp(UnaryAttrs{UnaryKind::kNot});
  notOp.in(kBool, {4, 1});
  expectOut(notOp.infer(), kBool, {4, 1});
  Case isnan(UnaryAttrs{UnaryKind::kIsNaN});
  isnan.in(kF32, {3});
  expectOut(isnan.infer(), kBool, {3});
  Case notFloat(UnaryAttrs{UnaryKind::kNot});
  notFloat.in(kF32, {4});
  expectError(notFloat.infer(), {"'not' expects a bool input, found f32"});
  Case isinfInt(UnaryAttrs{UnaryKind::kIsInf});
  isinfInt.in(kI64, {4});
  expectError(isinfInt.infer(), {"floating-point", "i64"});
}

TEST(ShapeInferenceElementwise, BroadcastAndTypes) {
  auto ew = [](ElementwiseKind k, DataType ta, Dims a, DataType tb, Dims b) {
    Case c(ElementwiseAttrs{k});
    c.in(ta, std::move(a)).in(tb, std::move(b));
    return c.infer();
  };
  using K = ElementwiseKind;
  expectOut(ew(K::kAdd, kF32, {8, 1, 6, 1}, kF32, {7, 1, 5}), kF32, {8, 7, 6, 5});
  expectOut(ew(K::kMul, kF32, {}, kF32, {2, 3}), kF32, {2, 3});
  expectOut(ew(K::kLess, kF32, {2, 3}, kF32, {3}), kBool, {2, 3});
  expectOut(ew(K::kEqual, kBool, {2}, kBool, {2}), kBool, {2});
  expectOut(ew(K::kAnd, kBool, {2, 1}, kBool, {1, 4}), kBool, {2, 4});
  expectError(ew(K::kAdd, kF32, {2, 3}, kF32, {2, 4}), {"cannot broadcast [2, 3] with [2, 4]"});
  expectError(ew(K::kAdd, kF32, {2}, kI64, {2}), {"one type", "f32", "i64"});
  expectError(ew(K::kOr, kF32, {2}, kF32, {2}), {"bool inputs, found f32"});
  expectError(ew(K::kSub, kBool, {2}, kBool, {2}), {"numeric"});
}

TEST(ShapeInferenceSelect, ThreeWayBroadcast) {
  Case c(SelectAttrs{});
  c.in(kBool, {2, 1, 1}).in(kF32, {1, 3, 1}).in(kF32, {4});
  expectOut(c.infer(), kF32, {2, 3, 4});
  Case cond(SelectAttrs{});
  cond.in(kF32, {2}).in(kF32, {2}).in(kF32, {2});
  expectError(cond.infer(), {"condition must be bool"});
  Case types(SelectAttrs{});
  types.in(kBool, {2}).in(kF32, {2}).in(kI64, {2});
  expectError(types.infer(), {"f32", "i64"});
  Case shapes(SelectAttrs{});
  shapes.in(kBool, {3}).in(kF32, {2}).in(kF32, {2});
  expectError(shapes.infer(), {"cannot broadcast"});
}

TEST(ShapeInferenceCast, ChangesTypeOnly) {
  Case c(CastAttrs{DataType::kFloat16});
  c.in(kI64, {3, 0});
  expectOut(c.infer(), DataType::kFloat16, {3, 0});
}

// ---- Reduce, Softmax, Normalization ---------------------------------------------------------

TEST(ShapeInferenceReduce, AxesAndKeepDims) {
  auto red = [](bool keep, bool noop, std::vector<int64_t>* axes) {
    ReduceAttrs a;
    a.keepDims = keep;
    a.noopWithEmptyAxes = noop;
    Case c(a);
    c.in(kF32, {2, 3, 4});
    if (axes) c.ints(*axes);
    return c.infer();
  };
  std::vector<int64_t> ax{-1, 0}, empty{}, dup{1, -2}, bad{3};
  expectOut(red(true, false, &ax), kF32, {1, 3, 1});
  expectOut(red(false, false, &ax), kF32, {3});
  expectOut(red(false, false, nullptr), kF32, {});
  expectOut(red(true, false, nullptr), kF32, {1, 1, 1});
  expectOut(red(true, false, &empty), kF32, {1, 1, 1});
  expectOut(red(false, true, nullptr), kF32, {2, 3, 4});
  expectError(red(true, false, &dup), {"repeated"});
  expectError(red(true, false, &bad), {"axis 3 is out of range for rank 3"});
}

TEST(ShapeInferenceSoftmax, AxisChecked) {
  Case ok(SoftmaxAttrs{-1, true});
  ok.in(kF32, {2, 5});
  expectOut(ok.infer(), kF32, {2, 5});
  Case bad(SoftmaxAttrs{2, false});
  bad.in(kF32, {2, 5});
  expectError(bad.infer(), {"axis 2 is out of range for rank 2", "[-2, 1]"});
}

TEST(ShapeInferenceNormalization, ScaleBroadcastsToNormalizedDims) {
  Case ok(NormalizationAttrs{-1, 1e-5f});
  ok.in(kF32, {2, 7, 16}).in(kF32, {16}).in(kF32, {16});
  expectOut(ok.infer(), kF32, {2, 7, 16});
  Case two(NormalizationAttrs{1, 1e-5f});
  two.in(kF32, {2, 7, 16}).in(kF32, {1, 16}).absent();
  expectOut(two.infer(), kF32, {2, 7, 16});
  Case bad(NormalizationAttrs{-1, 1e-5f});
  bad.in(kF32, {2, 7, 16}).in(kF32, {7, 16});
  expectError(bad.infer(), {"scale [7, 16] does not broadcast", "[16]"});
  Case axis(NormalizationAttrs{3, 1e-5f});
  axis.in(kF32, {2, 7, 16}).in(kF32, {16});
  expectError(axis.infer(), {"axis 3"});
}

// ---- Shuffle --------------------------------------------------------------------------------

Expected<std::vector<TensorDesc>> reshape(Dims in, std::vector<int64_t> shape,
                                          bool allowZero = false) {
  ShuffleAttrs a = shuffle(ShuffleMode::kReshape);
  a.allowZero = allowZero;
  Case c(a);
  c.in(kF32, std::move(in)).ints(std::move(shape));
  return c.infer();
}

TEST(ShapeInferenceShuffle, Reshape) {
  expectOut(reshape({2, 3, 4}, {4, -1}), kF32, {4, 6});
  expectOut(reshape({2, 3, 4}, {0, -1}), kF32, {2, 12});
  expectOut(reshape({2, 3, 4}, {0, 0, 2, 2}), kF32, {2, 3, 2, 2});
  expectOut(reshape({1}, {}), kF32, {});
  expectOut(reshape({0, 3}, {3, 0}, /*allowZero=*/true), kF32, {3, 0});
  expectError(reshape({2, 3, 4}, {5, -1}), {"cannot reshape [2, 3, 4] (24 elements)", "[5, -1]"});
  expectError(reshape({2, 3, 4}, {4, 7}), {"[2, 3, 4] (24 elements)", "[4, 7] (28 elements)"});
  expectError(reshape({2, 3}, {-1, -1}), {"more than one -1"});
  expectError(reshape({2, 3}, {-2, 3}), {"invalid value -2"});
  expectError(reshape({6}, {2, 0}), {"0 at index 1", "rank 1"});
  expectError(reshape({0, 3}, {0, -1}, /*allowZero=*/true), {"both -1 and 0"});
}

TEST(ShapeInferenceShuffle, SqueezeAndUnsqueeze) {
  Case all(shuffle(ShuffleMode::kSqueeze));
  all.in(kF32, {1, 3, 1, 2});
  expectOut(all.infer(), kF32, {3, 2});
  Case some(shuffle(ShuffleMode::kSqueeze));
  some.in(kF32, {1, 3, 1, 2}).ints({-2});
  expectOut(some.infer(), kF32, {1, 3, 2});
  Case notOne(shuffle(ShuffleMode::kSqueeze));
  notOne.in(kF32, {1, 3}).ints({1});
  expectError(notOne.infer(), {"cannot squeeze axis 1 of [1, 3]", "size is 3"});
  Case un(shuffle(ShuffleMode::kUnsqueeze));
  un.in(kF32, {3, 4}).ints({-1, 0});
  expectOut(un.infer(), kF32, {1, 3, 4, 1});
  Case unMid(shuffle(ShuffleMode::kUnsqueeze));
  unMid.in(kF32, {3, 4}).ints({1, 3});
  expectOut(unMid.infer(), kF32, {3, 1, 4, 1});
  Case unScalar(shuffle(ShuffleMode::kUnsqueeze));
  unScalar.in(kF32, {}).ints({0});
  expectOut(unScalar.infer(), kF32, {1});
  Case unDup(shuffle(ShuffleMode::kUnsqueeze));
  unDup.in(kF32, {3}).ints({0, -3});
  expectError(unDup.infer(), {"repeated"});
  Case unRange(shuffle(ShuffleMode::kUnsqueeze));
  unRange.in(kF32, {3}).ints({2});
  expectError(unRange.infer(), {"axis 2 is out of range for rank 2"});
  Case unNone(shuffle(ShuffleMode::kUnsqueeze));
  unNone.in(kF32, {3});
  expectError(unNone.infer(), {"needs its axes"});
}

TEST(ShapeInferenceShuffle, FlattenAndTranspose) {
  auto flatten = [](Dims in, int64_t axis) {
    ShuffleAttrs a = shuffle(ShuffleMode::kFlatten);
    a.axis = axis;
    Case c(a);
    c.in(kF32, std::move(in));
    return c.infer();
  };
  expectOut(flatten({2, 3, 4}, 1), kF32, {2, 12});
  expectOut(flatten({2, 3, 4}, 0), kF32, {1, 24});
  expectOut(flatten({2, 3, 4}, 3), kF32, {24, 1});
  expectOut(flatten({2, 3, 4}, -1), kF32, {6, 4});
  expectError(flatten({2, 3, 4}, 4), {"flatten axis 4", "[-3, 3]"});
  auto transpose = [](Dims in, std::vector<int64_t> perm) {
    ShuffleAttrs a = shuffle(ShuffleMode::kTranspose);
    a.perm = std::move(perm);
    Case c(a);
    c.in(kI64, std::move(in));
    return c.infer();
  };
  expectOut(transpose({2, 3, 4}, {}), kI64, {4, 3, 2});
  expectOut(transpose({2, 3, 4}, {1, 0, 2}), kI64, {3, 2, 4});
  expectError(transpose({2, 3, 4}, {0, 0, 1}), {"perm [0, 0, 1] is not a permutation"});
  expectError(transpose({2, 3, 4}, {1, 0}), {"not a permutation"});
}

// ---- Concatenation, Slice, Split, Expand, ShapeOf -------------------------------------------

TEST(ShapeInferenceConcatenation, SumsAxis) {
  Case c(ConcatenationAttrs{-1});
  c.in(kF32, {2, 3}).in(kF32, {2, 5}).in(kF32, {2, 0});
  expectOut(c.infer(), kF32, {2, 8});
  Case dims(ConcatenationAttrs{1});
  dims.in(kF32, {2, 3}).in(kF32, {4, 5});
  expectError(dims.infer(), {"input 1 [4, 5] does not match input 0 [2, 3]"});
  Case rank(ConcatenationAttrs{0});
  rank.in(kF32, {2, 3}).in(kF32, {2});
  expectError(rank.infer(), {"does not match"});
  Case type(ConcatenationAttrs{0});
  type.in(kF32, {2}).in(kI64, {2});
  expectError(type.infer(), {"input 1 has type i64"});
  Case axis(ConcatenationAttrs{2});
  axis.in(kF32, {2, 3});
  expectError(axis.infer(), {"axis 2 is out of range"});
}

Expected<std::vector<TensorDesc>> slice(Dims in, std::vector<int64_t> starts,
                                        std::vector<int64_t> ends, std::vector<int64_t> axes = {},
                                        std::vector<int64_t> steps = {}) {
  Case c(SliceAttrs{});
  c.in(kF32, std::move(in)).ints(std::move(starts)).ints(std::move(ends));
  if (axes.empty())
    c.absent();
  else
    c.ints(std::move(axes));
  if (!steps.empty()) c.ints(std::move(steps));
  return c.infer();
}

TEST(ShapeInferenceSlice, OnnxClamping) {
  expectOut(slice({20, 10, 5}, {0, 0}, {3, 10}), kF32, {3, 10, 5});
  expectOut(slice({20, 10, 5}, {1}, {kMax}, {1}), kF32, {20, 9, 5});
  expectOut(slice({20, 10, 5}, {-3}, {-1}, {-1}), kF32, {20, 10, 2});
  expectOut(slice({20, 10, 5}, {0}, {1000}, {0}, {3}), kF32, {7, 10, 5});
  // Reverse a dim: start clamps to dim-1, INT64_MIN end clamps to -1.
  expectOut(slice({20, 10, 5}, {-1}, {kMin}, {1}, {-1}), kF32, {20, 10, 5});
  expectOut(slice({20, 10, 5}, {kMax}, {kMin}, {1}, {-3}), kF32, {20, 4, 5});
  expectOut(slice({20, 10, 5}, {5}, {2}, {2}), kF32, {20, 10, 0});  // empty, not negative
  expectOut(slice({20, 10, 5}, {2}, {5}, {2}, {-1}), kF32, {20, 10, 0});
  expectOut(slice({0, 3}, {0}, {kMin}, {0}, {-1}), kF32, {0, 3});
}

TEST(ShapeInferenceSlice, Errors) {
  expectError(slice({4}, {0}, {4}, {0}, {0}), {"step on axis 0 is 0"});
  expectError(slice({4, 4}, {0, 0}, {4}), {"one length", "2, 1"});
  expectError(slice({4, 4}, {0, 0}, {4, 4}, {1, -1}), {"repeated"});
  expectError(slice({4, 4}, {0}, {4}, {2}), {"axis 2 is out of range"});
}

TEST(ShapeInferenceSplit, SizesAndEqualParts) {
  Case given(SplitAttrs{1, 0}, 3);
  given.in(kF32, {2, 10}).ints({2, 3, 5});
  auto r = given.infer();
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].dims, (Dims{2, 2}));
  EXPECT_EQ((*r)[2].dims, (Dims{2, 5}));
  Case equal(SplitAttrs{-1, 3}, 3);
  equal.in(kF32, {2, 7});  // ceil(7/3) = 3: 3, 3, 1
  auto e = equal.infer();
  ASSERT_TRUE(e.hasValue()) << e.status().toString();
  EXPECT_EQ((*e)[0].dims, (Dims{2, 3}));
  EXPECT_EQ((*e)[1].dims, (Dims{2, 3}));
  EXPECT_EQ((*e)[2].dims, (Dims{2, 1}));
  Case sum(SplitAttrs{1, 0}, 2);
  sum.in(kF32, {2, 10}).ints({2, 3});
  expectError(sum.infer(), {"sum to 5", "size 10"});
  Case count(SplitAttrs{1, 0}, 2);
  count.in(kF32, {2, 10}).ints({2, 3, 5});
  expectError(count.infer(), {"3 sizes but the layer has 2 outputs"});
  Case parts(SplitAttrs{0, 4}, 4);
  parts.in(kF32, {5});  // chunks of 2 leave nothing for the 4th part
  expectError(parts.infer(), {"cannot split axis 0 of size 5 into 4 parts"});
  Case attr(SplitAttrs{0, 3}, 2);
  attr.in(kF32, {6});
  expectError(attr.infer(), {"num_outputs is 3"});
}

TEST(ShapeInferenceExpand, Bidirectional) {
  Case c(ExpandAttrs{});
  c.in(kF32, {3, 1}).ints({2, 1, 6});
  expectOut(c.infer(), kF32, {2, 3, 6});
  Case bad(ExpandAttrs{});
  bad.in(kF32, {3, 2}).ints({3, 4});
  expectError(bad.infer(), {"cannot broadcast [3, 2] with [3, 4]"});
  Case neg(ExpandAttrs{});
  neg.in(kF32, {3}).ints({-1});
  expectError(neg.infer(), {"negative"});
}

TEST(ShapeInferenceShapeOf, ClampedRange) {
  auto shapeOf = [](int64_t start, int64_t end) {
    Case c(ShapeOfAttrs{start, end});
    c.in(kF32, {2, 3, 4, 5});
    return c.infer();
  };
  expectOut(shapeOf(0, kMax), kI64, {4});
  expectOut(shapeOf(1, -1), kI64, {2});
  expectOut(shapeOf(-10, 10), kI64, {4});
  expectOut(shapeOf(3, 1), kI64, {0});
}

// ---- Gather, Fill, Cumulative ---------------------------------------------------------------

Expected<std::vector<TensorDesc>> gather(GatherMode mode, int64_t axis, int64_t batchDims,
                                         Dims data, Dims indices, DataType it = kI64) {
  Case c(GatherAttrs{mode, axis, batchDims});
  c.in(kF32, std::move(data)).in(it, std::move(indices));
  return c.infer();
}

TEST(ShapeInferenceGather, AllModes) {
  using M = GatherMode;
  expectOut(gather(M::kDefault, 1, 0, {5, 4, 3}, {2, 6}), kF32, {5, 2, 6, 3});
  expectOut(gather(M::kDefault, -2, 0, {5, 4}, {}), kF32, {4});
  expectOut(gather(M::kElements, 1, 0, {3, 4}, {3, 7}, DataType::kInt32), kF32, {3, 7});
  expectOut(gather(M::kND, 0, 0, {2, 2}, {2, 2}), kF32, {2});
  expectOut(gather(M::kND, 0, 0, {2, 2, 3}, {4, 1}), kF32, {4, 2, 3});
  expectOut(gather(M::kND, 0, 1, {2, 2, 3}, {2, 1}), kF32, {2, 3});
  expectOut(gather(M::kND, 0, 1, {2, 5, 3, 4}, {2, 6, 2}), kF32, {2, 6, 4});
  expectError(gather(M::kDefault, 3, 0, {5, 4, 3}, {2}), {"axis 3 is out of range"});
  expectError(gather(M::kDefault, 0, 0, {5}, {2}, kF32), {"indices must be i32 or i64, found f32"});
  expectError(gather(M::kElements, 0, 0, {3, 4}, {3}), {"rank of data"});
  expectError(gather(M::kND, 0, 0, {2, 2}, {2, 3}), {"must be in [1, 2], found 3"});
  expectError(gather(M::kND, 0, 2, {2, 2}, {2, 1}), {"batch_dims 2"});
  expectError(gather(M::kND, 0, 1, {2, 3}, {3, 1}), {"batch dim 0 differs"});
}

TEST(ShapeInferenceFill, RangeCount) {
  auto range = [](int64_t s, int64_t l, int64_t d) {
    Case c(FillAttrs{});
    c.scalar(s).scalar(l).scalar(d);
    return c.infer();
  };
  expectOut(range(3, 9, 3), kI64, {2});
  expectOut(range(3, 10, 3), kI64, {3});
  expectOut(range(10, 4, -3), kI64, {2});
  expectOut(range(10, 14, -3), kI64, {0});
  expectError(range(0, 4, 0), {"delta is 0"});
  Case f(FillAttrs{});
  f.floatScalar(1.0f).floatScalar(2.0f).floatScalar(0.25f);
  expectOut(f.infer(), kF32, {4});
  Case fneg(FillAttrs{});
  fneg.floatScalar(1.0f).floatScalar(-1.0f).floatScalar(-0.3f);  // 1, .7, .4, .1, -.2, -.5, -.8
  expectOut(fneg.infer(), kF32, {7});
  Case mixed(FillAttrs{});
  mixed.scalar(0).floatScalar(2.0f).scalar(1);
  expectError(mixed.infer(), {"one type", "i64", "f32"});
  Case vec(FillAttrs{});
  vec.ints({0, 1}).scalar(4).scalar(1);
  expectError(vec.infer(), {"start must be a scalar"});
  Case runtime(FillAttrs{});
  runtime.in(kI64, {}).scalar(4).scalar(1);
  auto r = runtime.inferSymbolic();
  ASSERT_TRUE(r.hasValue()) << r.status().toString();
  ASSERT_EQ((*r)[0].shape.size(), 1u);  // 1-D, of a length known at run time
  EXPECT_FALSE((*r)[0].shape[0].isStatic());
}

TEST(ShapeInferenceCumulative, AxisParam) {
  Case c(CumulativeAttrs{});
  c.in(kF32, {2, 3}).scalar(-1);
  expectOut(c.infer(), kF32, {2, 3});
  Case bad(CumulativeAttrs{});
  bad.in(kF32, {2, 3}).scalar(2);
  expectError(bad.infer(), {"axis 2 is out of range for rank 2"});
  Case vec(CumulativeAttrs{});
  vec.in(kF32, {2, 3}).ints({0, 1});
  expectError(vec.infer(), {"must be a scalar"});
}

}  // namespace
}  // namespace kiln
