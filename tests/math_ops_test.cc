// Tests of the math, bitwise, activation and loss operators: each ONNX op imported, built and
// run on the reference backend against hand-computed values, plus the errors they must give.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "importer/onnx/model_builder.h"
#include "test_util.h"
#include "util/float16.h"

namespace kiln {
namespace {

using onnx_import::ModelBuilder;
using onnx_import::NodeAttr;

constexpr DataType kF32 = DataType::kFloat32;
constexpr DataType kI32 = DataType::kInt32;
constexpr DataType kI64 = DataType::kInt64;
constexpr DataType kU8 = DataType::kUInt8;

template <class T>
Weights tensor(DataType t, Dims dims, std::vector<T> v) {
  return *Weights::copyFrom(t, std::move(dims), v.data(), v.size() * sizeof(T));
}
Weights f32(Dims dims, std::vector<float> v) {
  return tensor(kF32, std::move(dims), std::move(v));
}
Weights i32(Dims dims, std::vector<int32_t> v) {
  return tensor(kI32, std::move(dims), std::move(v));
}
Weights i64(Dims dims, std::vector<int64_t> v) {
  return tensor(kI64, std::move(dims), std::move(v));
}

template <class T>
std::vector<T> values(const Weights& w) {
  return std::vector<T>(w.as<T>(), w.as<T>() + w.count());
}

void expectNear(const Weights& w, const std::vector<double>& expected, double tol = 1e-5) {
  ASSERT_EQ(w.dtype(), kF32);
  ASSERT_EQ(static_cast<size_t>(w.count()), expected.size());
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(w.as<float>()[i], expected[i], tol) << "at " << i;
}

/// Declares one graph input per value (named in order), parses, builds for those shapes and
/// runs once; returns the graph outputs.
Expected<std::vector<Weights>> run(ModelBuilder& b, const std::vector<std::string>& names,
                                   const std::vector<Weights>& inputs,
                                   const std::string& backend = "reference") {
  std::vector<NamedTensor> named;
  BuilderConfig config;
  config.backend = backend;
  for (size_t i = 0; i < inputs.size(); ++i) {
    b.input(names[i], inputs[i].dtype(), shapeFromDims(inputs[i].dims()));
    named.push_back({names[i], inputs[i]});
    config.inputShapes[names[i]] = inputs[i].dims();
  }
  const std::string bytes = b.serialize();
  KILN_ASSIGN_OR_RETURN(NetworkDefinition net,
                        OnnxParser::parseBuffer(bytes.data(), bytes.size(), "math.onnx"));
  KILN_ASSIGN_OR_RETURN(auto engine, Builder::build(net, config));
  return test::runEngine(*engine, named);
}

/// A model of one node `op(x..) -> y` with attributes, run on `inputs` named a, b, c, d, e.
Expected<std::vector<Weights>> runOp(int64_t opset, const std::string& op,
                                     const std::vector<Weights>& inputs,
                                     std::vector<NodeAttr> attrs = {}, int outputs = 1) {
  ModelBuilder b(opset);
  const std::vector<std::string> names = {"a", "b", "c", "d", "e"};
  std::vector<std::string> in(names.begin(), names.begin() + static_cast<long>(inputs.size()));
  std::vector<std::string> out;
  for (int k = 0; k < outputs; ++k)
    out.push_back("y" + std::to_string(k));
  b.node({op, in, out, std::move(attrs), "node"});
  for (const std::string& o : out)
    b.output(o);
  return run(b, names, inputs);
}

Weights runOne(int64_t opset, const std::string& op, const std::vector<Weights>& inputs,
               std::vector<NodeAttr> attrs = {}) {
  auto r = runOp(opset, op, inputs, std::move(attrs));
  EXPECT_TRUE(r.hasValue()) << op << ": " << r.status().toString();
  return r ? r->at(0) : Weights();
}

// ---- Mod -------------------------------------------------------------------------------------

TEST(MathOps, ModIntegerTakesTheDivisorsSign) {
  const Weights a = i32({5}, {-7, 7, -7, 7, 5});
  const Weights b = i32({5}, {3, -3, -3, 3, 0});
  // numpy.mod; x % 0 gives 0.
  EXPECT_EQ(values<int32_t>(runOne(13, "Mod", {a, b})), (std::vector<int32_t>{2, -2, -1, 1, 0}));
  // fmod = 1: C's truncated remainder.
  EXPECT_EQ(values<int32_t>(runOne(13, "Mod", {a, b}, {{"fmod", int64_t{1}}})),
            (std::vector<int32_t>{-1, 1, -1, 1, 0}));
  // INT64_MIN % -1 does not trap.
  EXPECT_EQ(values<int64_t>(runOne(
                13, "Mod", {i64({1}, {std::numeric_limits<int64_t>::min()}), i64({1}, {-1})})),
            (std::vector<int64_t>{0}));
}

TEST(MathOps, ModFloatIsFmodAndBroadcasts) {
  const Weights a = f32({2, 2}, {-4.5f, 5.5f, 3.0f, -1.0f});
  const Weights b = f32({2}, {2.0f, -2.0f});
  expectNear(runOne(13, "Mod", {a, b}, {{"fmod", int64_t{1}}}), {-0.5, 1.5, 1.0, -1.0});
  // The ONNX reference computes fmod for floats whatever the attribute says.
  expectNear(runOne(13, "Mod", {a, b}), {-0.5, 1.5, 1.0, -1.0});
}

TEST(MathOps, ModRejectsABadFmodAttribute) {
  auto r = runOp(13, "Mod", {i32({1}, {1}), i32({1}, {1})}, {{"fmod", int64_t{2}}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("'fmod' is 2"), std::string::npos) << r.status().toString();
}

// ---- bitwise -----------------------------------------------------------------------------------

TEST(MathOps, BitShiftBothDirections) {
  const Weights x = tensor<uint8_t>(kU8, {4}, {16, 4, 1, 255});
  const Weights n = tensor<uint8_t>(kU8, {4}, {1, 2, 3, 8});
  EXPECT_EQ(values<uint8_t>(runOne(11, "BitShift", {x, n}, {{"direction", std::string("RIGHT")}})),
            (std::vector<uint8_t>{8, 1, 0, 0}));
  EXPECT_EQ(values<uint8_t>(runOne(11, "BitShift", {x, n}, {{"direction", std::string("LEFT")}})),
            (std::vector<uint8_t>{32, 16, 8, 0}));
  auto bad = runOp(11, "BitShift", {x, n}, {{"direction", std::string("UP")}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("expected LEFT or RIGHT"), std::string::npos)
      << bad.status().toString();
}

TEST(MathOps, BitwiseAndOrXorNot) {
  const Weights a = i32({3}, {0b1100, -1, 5});
  const Weights b = i32({3}, {0b1010, 6, 0});
  EXPECT_EQ(values<int32_t>(runOne(18, "BitwiseAnd", {a, b})), (std::vector<int32_t>{8, 6, 0}));
  EXPECT_EQ(values<int32_t>(runOne(18, "BitwiseOr", {a, b})), (std::vector<int32_t>{14, -1, 5}));
  EXPECT_EQ(values<int32_t>(runOne(18, "BitwiseXor", {a, b})), (std::vector<int32_t>{6, -7, 5}));
  EXPECT_EQ(values<int32_t>(runOne(18, "BitwiseNot", {a})), (std::vector<int32_t>{-13, 0, -6}));
  // Floats are refused with a message naming the op.
  auto r = runOp(18, "BitwiseAnd", {f32({1}, {1}), f32({1}, {1})});
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("expects integer inputs"), std::string::npos)
      << r.status().toString();
}

// ---- unary and activations ---------------------------------------------------------------------

TEST(MathOps, TrigonometricAndHyperbolic) {
  const Weights x = f32({1}, {0.5f});
  const double v = 0.5;
  expectNear(runOne(22, "Tan", {x}), {std::tan(v)});
  expectNear(runOne(22, "Asin", {x}), {std::asin(v)});
  expectNear(runOne(22, "Acos", {x}), {std::acos(v)});
  expectNear(runOne(22, "Atan", {f32({1}, {1.0f})}), {std::numbers::pi / 4});
  expectNear(runOne(22, "Sinh", {x}), {0.5210953054937474});
  expectNear(runOne(22, "Cosh", {x}), {1.1276259652063807});
  expectNear(runOne(22, "Asinh", {x}), {0.48121182505960347});
  expectNear(runOne(22, "Acosh", {f32({1}, {2.0f})}), {1.3169578969248166});
  expectNear(runOne(22, "Atanh", {x}), {0.5493061443340549});
}

TEST(MathOps, ParametricActivations) {
  expectNear(runOne(22, "Softsign", {f32({2}, {-3, 1})}), {-0.75, 0.5});
  // celu(x) = max(0, x) + min(0, alpha (exp(x / alpha) - 1)), alpha 2.
  expectNear(runOne(12, "Celu", {f32({2}, {-1, 3})}, {{"alpha", 2.0f}}),
             {2 * (std::exp(-0.5) - 1), 3});
  expectNear(runOne(22, "ThresholdedRelu", {f32({3}, {0.5f, 1.0f, 2.0f})}), {0, 0, 2});
  expectNear(runOne(9, "Shrink", {f32({3}, {-2, 1, 2})}, {{"lambd", 1.5f}, {"bias", 0.5f}}),
             {-1.5, 0, 1.5});
  // swish(x) = x sigmoid(alpha x); mish(x) = x tanh(log(1 + exp(x))).
  expectNear(runOne(24, "Swish", {f32({1}, {1})}, {{"alpha", 2.0f}}), {1 / (1 + std::exp(-2.0))});
  expectNear(runOne(22, "Mish", {f32({1}, {1})}), {std::tanh(std::log1p(std::exp(1.0)))});
  auto bad = runOp(12, "Celu", {f32({1}, {1})}, {{"alpha", 0.0f}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("'alpha' must not be 0"), std::string::npos);
}

TEST(MathOps, PReluBroadcastsTheSlope) {
  const Weights x = f32({2, 3}, {-1, 2, -3, 4, -5, 6});
  expectNear(runOne(16, "PRelu", {x, f32({3}, {0.5f, 1, 2})}), {-0.5, 2, -6, 4, -5, 6});
  // Before opset 7 a slope of C values is per channel of [N, C, ...].
  const Weights x3 = f32({1, 2, 2}, {-1, -2, -3, 4});
  expectNear(runOne(6, "PRelu", {x3, f32({2}, {0.5f, 2})}), {-0.5, -1, -6, 4});
}

TEST(MathOps, IsInfOneSignAndHalfInputs) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const Weights x = f32({4}, {kInf, -kInf, 1, std::numeric_limits<float>::quiet_NaN()});
  auto pos = runOne(10, "IsInf", {x}, {{"detect_negative", int64_t{0}}});
  EXPECT_EQ(values<uint8_t>(pos), (std::vector<uint8_t>{1, 0, 0, 0}));
  auto neg = runOne(10, "IsInf", {x}, {{"detect_positive", int64_t{0}}});
  EXPECT_EQ(values<uint8_t>(neg), (std::vector<uint8_t>{0, 1, 0, 0}));
  auto none =
      runOne(10, "IsInf", {x}, {{"detect_positive", int64_t{0}}, {"detect_negative", int64_t{0}}});
  EXPECT_EQ(values<uint8_t>(none), (std::vector<uint8_t>{0, 0, 0, 0}));
  // f16: Max and IsNaN through float.
  auto half = [](std::vector<float> v) {
    std::vector<uint16_t> bits;
    for (float f : v)
      bits.push_back(floatToHalf(f).bits);
    return tensor(DataType::kFloat16, {static_cast<int64_t>(v.size())}, bits);
  };
  auto m = runOne(13, "Max", {half({1, -2, 3.5f}), half({0.5f, 4, -1})});
  ASSERT_EQ(m.dtype(), DataType::kFloat16);
  std::vector<float> got;
  for (uint16_t b : values<uint16_t>(m))
    got.push_back(halfToFloat(Half{b}));
  EXPECT_EQ(got, (std::vector<float>{1, 4, 3.5f}));
}

// ---- reductions
// ----------------------------------------------------------------------------------

TEST(MathOps, ArgMaxArgMinKeepdimsAndLastIndex) {
  const Weights x = f32({2, 3}, {1, 5, 5, 7, 2, 7});
  auto first = runOne(13, "ArgMax", {x}, {{"axis", int64_t{1}}});
  EXPECT_EQ(first.dims(), (Dims{2, 1}));
  EXPECT_EQ(values<int64_t>(first), (std::vector<int64_t>{1, 0}));
  auto last = runOne(13, "ArgMax", {x}, {{"axis", int64_t{1}}, {"select_last_index", int64_t{1}}});
  EXPECT_EQ(values<int64_t>(last), (std::vector<int64_t>{2, 2}));
  auto mins = runOne(13, "ArgMin", {x}, {{"axis", int64_t{0}}, {"keepdims", int64_t{0}}});
  EXPECT_EQ(mins.dims(), (Dims{3}));
  EXPECT_EQ(values<int64_t>(mins), (std::vector<int64_t>{0, 1, 0}));
  auto neg = runOne(13, "ArgMin", {i32({2, 2}, {3, 3, 1, 0})}, {{"axis", int64_t{-1}}});
  EXPECT_EQ(values<int64_t>(neg), (std::vector<int64_t>{0, 1}));
}

TEST(MathOps, ReduceMaxMinOnBool) {
  const Weights x = tensor<uint8_t>(DataType::kBool, {2, 2}, {1, 0, 0, 0});
  auto mx = runOne(20, "ReduceMax", {x, i64({1}, {1})});
  EXPECT_EQ(values<uint8_t>(mx), (std::vector<uint8_t>{1, 0}));
  auto mn = runOne(20, "ReduceMin", {x, i64({1}, {1})});
  EXPECT_EQ(values<uint8_t>(mn), (std::vector<uint8_t>{0, 0}));
}

TEST(MathOps, CumProdForwardAndReverseExclusive) {
  const Weights x = f32({4}, {1, 2, 3, 4});
  const Weights axis = tensor<int64_t>(kI64, {}, {0});
  expectNear(runOne(26, "CumProd", {x, axis}), {1, 2, 6, 24});
  expectNear(runOne(26, "CumProd", {x, axis}, {{"exclusive", int64_t{1}}, {"reverse", int64_t{1}}}),
             {24, 12, 4, 1});
  EXPECT_EQ(values<int32_t>(runOne(26, "CumProd", {i32({3}, {2, -3, 4}), axis})),
            (std::vector<int32_t>{2, -6, -24}));
}

TEST(MathOps, HardmaxMarksTheFirstMaximum) {
  const Weights x = f32({2, 3}, {1, 3, 3, 2, 0, 1});
  expectNear(runOne(13, "Hardmax", {x}), {0, 1, 0, 1, 0, 0});
  expectNear(runOne(13, "Hardmax", {x}, {{"axis", int64_t{0}}}), {0, 1, 1, 1, 0, 0});
  // The cpu backend's fast softmax must not take a hardmax layer.
  ModelBuilder b(13);
  b.node({"Hardmax", {"a"}, {"y"}}).output("y");
  auto cpu = run(b, {"a"}, {x}, "cpu");
  ASSERT_TRUE(cpu) << cpu.status().toString();
  expectNear(cpu->at(0), {0, 1, 0, 1, 0, 0});
}

// ---- losses ------------------------------------------------------------------------------------

TEST(MathOps, NegativeLogLikelihoodReductionsWeightsAndIgnoreIndex) {
  const Weights x = f32({2, 3}, {-1, -2, -3, -4, -5, -6});
  const Weights t = i64({2}, {2, 0});
  const Weights w = f32({3}, {1, 2, 3});
  // loss = -w[t] x[n, t]: {3 * 3, 1 * 4}.
  auto none =
      runOne(13, "NegativeLogLikelihoodLoss", {x, t, w}, {{"reduction", std::string("none")}});
  EXPECT_EQ(none.dims(), (Dims{2}));
  expectNear(none, {9, 4});
  expectNear(
      runOne(13, "NegativeLogLikelihoodLoss", {x, t, w}, {{"reduction", std::string("sum")}}),
      {13});
  expectNear(runOne(13, "NegativeLogLikelihoodLoss", {x, t, w}), {13.0 / 4});  // mean
  expectNear(runOne(13, "NegativeLogLikelihoodLoss", {x, t, w}, {{"ignore_index", int64_t{0}}}),
             {9.0 / 3});
  expectNear(runOne(13, "NegativeLogLikelihoodLoss", {x, t}), {(3 + 4) / 2.0});
  // A target outside [0, C) that is not ignored is a run-time error naming the value.
  auto bad = runOp(13, "NegativeLogLikelihoodLoss", {x, i64({2}, {3, 0})});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("target value 3"), std::string::npos)
      << bad.status().toString();
  auto badReduction =
      runOp(13, "NegativeLogLikelihoodLoss", {x, t}, {{"reduction", std::string("max")}});
  ASSERT_FALSE(badReduction);
  EXPECT_NE(badReduction.status().message().find("'reduction' is 'max'"), std::string::npos);
}

TEST(MathOps, NegativeLogLikelihoodSpatial) {
  // x [N=1, C=2, d=2], target [1, 2]: picks x[0, 1, 0] and x[0, 0, 1].
  const Weights x = f32({1, 2, 2}, {-1, -2, -3, -4});
  auto none = runOne(13, "NegativeLogLikelihoodLoss", {x, i64({1, 2}, {1, 0})},
                     {{"reduction", std::string("none")}});
  EXPECT_EQ(none.dims(), (Dims{1, 2}));
  expectNear(none, {3, 2});
}

TEST(MathOps, SoftmaxCrossEntropyWithLogProb) {
  // log_softmax([0, ln 3]) = [ln 1/4, ln 3/4]; label 1 -> -ln 3/4.
  const Weights scores = f32({1, 2}, {0, static_cast<float>(std::log(3.0))});
  auto r = runOp(13, "SoftmaxCrossEntropyLoss", {scores, i64({1}, {1})}, {}, 2);
  ASSERT_TRUE(r) << r.status().toString();
  expectNear(r->at(0), {-std::log(0.75)});
  expectNear(r->at(1), {std::log(0.25), std::log(0.75)});
}

// ---- linear algebra
// ------------------------------------------------------------------------------

TEST(MathOps, DeterminantOfOneAndABatch) {
  expectNear(runOne(22, "Det", {f32({2, 2}, {1, 2, 3, 4})}), {-2});
  // diag(2, 2, 2), a singular matrix, and one that needs a row swap.
  auto d = runOne(22, "Det", {f32({3, 2, 2}, {2, 0, 0, 4, 1, 2, 2, 4, 0, 1, 1, 0})});
  EXPECT_EQ(d.dims(), (Dims{3}));
  expectNear(d, {8, 0, -1});
  auto bad = runOp(22, "Det", {f32({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("square matrices"), std::string::npos)
      << bad.status().toString();
}

TEST(MathOps, EinsumContractionsDiagonalsAndImplicitOutput) {
  const Weights a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  const Weights b = f32({3, 2}, {1, 0, 0, 1, 1, 1});
  auto eq = [](const char* e) { return std::vector<NodeAttr>{{"equation", std::string(e)}}; };
  expectNear(runOne(12, "Einsum", {a, b}, eq("ij,jk->ik")), {4, 5, 10, 11});
  expectNear(runOne(12, "Einsum", {a, b}, eq("ij, jk")), {4, 5, 10, 11});  // implicit: ik
  expectNear(runOne(12, "Einsum", {a}, eq("ij->")), {21});
  expectNear(runOne(12, "Einsum", {a}, eq("ij->ji")), {1, 4, 2, 5, 3, 6});
  const Weights sq = f32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  expectNear(runOne(12, "Einsum", {sq}, eq("...ii->...i")), {1, 4, 5, 8});
  expectNear(runOne(12, "Einsum", {f32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})}, eq("i,i")), {32});
  // Implicit output order is by character, A-Z before a-z: "aB" gives "Ba", a transpose.
  expectNear(runOne(12, "Einsum", {a}, eq("aB")), {1, 4, 2, 5, 3, 6});
  auto bad = runOp(12, "Einsum", {a}, eq("ij,jk->ik"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("names 2 inputs"), std::string::npos)
      << bad.status().toString();
}

// ---- signal
// ----------------------------------------------------------------------------------------

TEST(MathOps, WindowsPeriodicAndSymmetric) {
  const Weights four = tensor<int32_t>(kI32, {}, {4});
  expectNear(runOne(17, "HannWindow", {four}), {0, 0.5, 1, 0.5});
  expectNear(runOne(17, "HannWindow", {tensor<int32_t>(kI32, {}, {3})}, {{"periodic", int64_t{0}}}),
             {0, 1, 0});
  expectNear(runOne(17, "HammingWindow", {tensor<int32_t>(kI32, {}, {2})}), {4.0 / 46, 1});
  expectNear(runOne(17, "BlackmanWindow", {four}), {0, 0.34, 1, 0.34}, 1e-6);
  auto d = runOne(17, "HannWindow", {four}, {{"output_datatype", int64_t{11}}});
  EXPECT_EQ(d.dtype(), DataType::kFloat64);
}

TEST(MathOps, DftForwardOnesidedInverseAndIrfft) {
  const Weights x = f32({1, 4, 1}, {1, 2, 3, 4});
  // fft([1, 2, 3, 4]) = [10, -2+2i, -2, -2-2i].
  auto y = runOne(17, "DFT", {x});
  EXPECT_EQ(y.dims(), (Dims{1, 4, 2}));
  expectNear(y, {10, 0, -2, 2, -2, 0, -2, -2});
  auto half = runOne(17, "DFT", {x}, {{"onesided", int64_t{1}}});
  EXPECT_EQ(half.dims(), (Dims{1, 3, 2}));
  expectNear(half, {10, 0, -2, 2, -2, 0});
  // Opset 20: the axis is input 2 (input 1 is dft_length: 2 keeps the first two samples).
  ModelBuilder inv(20);
  inv.node({"DFT", {"a", "", "b"}, {"y"}, {{"inverse", int64_t{1}}}}).output("y");
  auto back = run(inv, {"a", "b"}, {y, tensor<int64_t>(kI64, {}, {1})});
  ASSERT_TRUE(back) << back.status().toString();
  expectNear(back->at(0), {1, 0, 2, 0, 3, 0, 4, 0});
  // fft([1, 2]) = [3, -1].
  auto cut = runOne(20, "DFT", {x, tensor<int64_t>(kI64, {}, {2}), tensor<int64_t>(kI64, {}, {1})});
  EXPECT_EQ(cut.dims(), (Dims{1, 2, 2}));
  expectNear(cut, {3, 0, -1, 0});
  // Inverse of the half spectrum: the real signal (numpy.fft.irfft).
  ModelBuilder b(20);
  b.node({"DFT", {"a", "", "b"}, {"y"}, {{"inverse", int64_t{1}}, {"onesided", int64_t{1}}}})
      .output("y");
  auto r = run(b, {"a", "b"}, {half, tensor<int64_t>(kI64, {}, {1})});
  ASSERT_TRUE(r) << r.status().toString();
  EXPECT_EQ(r->at(0).dims(), (Dims{1, 4, 1}));
  expectNear(r->at(0), {1, 2, 3, 4});
}

TEST(MathOps, StftFramesWithAndWithoutWindow) {
  const Weights signal = f32({1, 4, 1}, {1, 2, 3, 4});
  const Weights step = tensor<int64_t>(kI64, {}, {2});
  ModelBuilder b(17);
  b.node({"STFT", {"a", "b", "", "c"}, {"y"}}).output("y");
  auto r = run(b, {"a", "b", "c"}, {signal, step, tensor<int64_t>(kI64, {}, {2})});
  ASSERT_TRUE(r) << r.status().toString();
  EXPECT_EQ(r->at(0).dims(), (Dims{1, 2, 2, 2}));
  // Frames [1, 2] and [3, 4]: DFTs [3, -1] and [7, -1].
  expectNear(r->at(0), {3, 0, -1, 0, 7, 0, -1, 0});
  auto w = runOne(17, "STFT", {signal, step, f32({2}, {1, 0.5f})});
  expectNear(w, {2, 0, 0, 0, 5, 0, 1, 0});
}

TEST(MathOps, MelWeightMatrixTriangles) {
  // 2 mel bins over 8-point DFTs at 8 kHz, 0-4000 Hz: the mel points fall on DFT bins
  // floor(9 hz / 8000) = {0, 0, 1, 2}, giving filters [1 at bin 0] and [0 -> 1 at bin 1].
  auto r = runOne(17, "MelWeightMatrix",
                  {tensor<int32_t>(kI32, {}, {2}), tensor<int32_t>(kI32, {}, {8}),
                   tensor<int32_t>(kI32, {}, {8000}), f32({}, {0}), f32({}, {4000})});
  EXPECT_EQ(r.dims(), (Dims{5, 2}));
  expectNear(r, {1, 0, 0, 1, 0, 0, 0, 0, 0, 0});
}

}  // namespace
}  // namespace kiln
