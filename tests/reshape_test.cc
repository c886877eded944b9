// Every reference kernel handles reshape: one engine built with no shapes, one context (so one
// kernel object per layer), several input shapes in a row, growing and shrinking; each result
// is checked against an engine specialized for exactly that shape (fresh kernels).
#include <cmath>
#include <cstring>
#include <functional>

#include "kiln/compare.h"
#include "test_util.h"

namespace kiln {
namespace {

/// Deterministic input data for a tensor of `dtype` and `dims`; `salt` varies it per input.
Weights data(DataType dtype, const Dims& dims, int salt) {
  Weights w = Weights::zeros(dtype, dims).value();
  for (int64_t i = 0; i < w.count(); ++i) {
    const double v = std::sin(0.7 * static_cast<double>(i) + salt) * 3;
    switch (dtype) {
      case DataType::kFloat32:
        static_cast<float*>(w.mutableData())[i] = static_cast<float>(v);
        break;
      case DataType::kInt64:
        static_cast<int64_t*>(w.mutableData())[i] = static_cast<int64_t>(std::floor(v));
        break;
      case DataType::kInt32:
        static_cast<int32_t*>(w.mutableData())[i] = static_cast<int32_t>(std::floor(v));
        break;
      case DataType::kBool:
        static_cast<uint8_t*>(w.mutableData())[i] = v > 0;
        break;
      default:
        break;
    }
  }
  return w;
}

/// One network, and the input sets it runs on in a row.
struct ReshapeCase {
  std::string name;
  std::function<void(NetworkDefinition&)> build;  ///< adds inputs, layers and outputs
  std::vector<std::vector<Weights>> inputSets;    ///< per run, one tensor per graph input
};

Expected<std::vector<Weights>> runWith(ExecutionContext& ctx, const Engine& engine,
                                       const std::vector<Weights>& inputs) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string& name = engine.inputs()[i].name;
    KILN_RETURN_IF_ERROR(ctx.setInputShape(name, inputs[i].dims()));
    KILN_RETURN_IF_ERROR(
        ctx.setInputTensor(name, inputs[i].data(), inputs[i].bytes(), inputs[i].dtype()));
  }
  std::vector<Weights> outs;
  for (const IOTensorInfo& io : engine.outputs()) {
    KILN_ASSIGN_OR_RETURN(Dims dims, ctx.getTensorShape(io.name));
    outs.push_back(Weights::zeros(io.dtype, dims).value());
    KILN_RETURN_IF_ERROR(
        ctx.setTensorAddress(io.name, outs.back().mutableData(), outs.back().bytes(), io.dtype));
  }
  KILN_RETURN_IF_ERROR(ctx.execute());
  return outs;
}

void check(const ReshapeCase& c) {
  NetworkDefinition net;
  c.build(net);
  ASSERT_TRUE(net.verify().isOk()) << c.name;
  auto dynamic = Builder::build(net, BuilderConfig{});
  ASSERT_TRUE(dynamic.hasValue()) << c.name << ": " << dynamic.status().toString();
  auto ctx = (*dynamic)->createExecutionContext();
  ASSERT_TRUE(ctx.hasValue()) << c.name;
  for (size_t r = 0; r < c.inputSets.size(); ++r) {
    const auto& inputs = c.inputSets[r];
    std::string label = c.name + " run " + std::to_string(r) + " (";
    BuilderConfig fixed;
    for (size_t i = 0; i < inputs.size(); ++i) {
      fixed.inputShapes[net.tensor(net.inputs()[i]).name] = inputs[i].dims();
      label += (i ? ", " : "") + dimsToString(inputs[i].dims());
    }
    label += ")";
    auto got = runWith(**ctx, **dynamic, inputs);
    ASSERT_TRUE(got.hasValue()) << label << ": " << got.status().toString();
    auto fresh = Builder::build(net, fixed);
    ASSERT_TRUE(fresh.hasValue()) << label << ": " << fresh.status().toString();
    auto freshCtx = (*fresh)->createExecutionContext();
    ASSERT_TRUE(freshCtx.hasValue());
    auto want = runWith(**freshCtx, **fresh, inputs);
    ASSERT_TRUE(want.hasValue()) << label << ": " << want.status().toString();
    ASSERT_EQ(got->size(), want->size());
    for (size_t k = 0; k < got->size(); ++k) {
      Comparison cmp = compareTensors((*got)[k], (*want)[k], 0, 0);
      EXPECT_TRUE(cmp.shapesMatch && cmp.mismatches == 0)
          << label << " output " << k << ": " << cmp.message << " worst at " << cmp.worstIndex
          << ": " << cmp.worstActual << " vs " << cmp.worstExpected;
    }
  }
}

Dim sym(const char* s) {
  return Dim::named(s);
}
TensorId input(NetworkDefinition& n, const char* name, DataType t, Shape s) {
  return *n.addInput(name, t, s);
}
void output(NetworkDefinition& n, Expected<LayerId> l) {
  ASSERT_TRUE(l.hasValue()) << l.status().toString();
  for (TensorId t : n.layer(*l).outputs)
    ASSERT_TRUE(n.markOutput(t).isOk());
}
Weights f(Dims d, int salt = 0) {
  return data(DataType::kFloat32, d, salt);
}

constexpr DataType kF32 = DataType::kFloat32;

std::vector<ReshapeCase> cases() {
  std::vector<ReshapeCase> v;
  v.push_back({"convolution",
               [](NetworkDefinition& n) {
                 TensorId x = input(n, "x", kF32, {sym("n"), 2, sym("h"), sym("w")});
                 TensorId w = n.addConstant("w", f({3, 2, 3, 3}, 1));
                 TensorId b = n.addConstant("b", f({3}, 2));
                 ConvolutionAttrs a;
                 a.padsBegin = {1, 0};
                 a.padsEnd = {1, 2};
                 a.strides = {2, 1};
                 output(n, n.addLayer("conv", a, {x, w, b}));
               },
               {{f({1, 2, 5, 5})}, {f({2, 2, 9, 7})}, {f({1, 2, 3, 3})}}});
  v.push_back({"matrix_multiply",
               [](NetworkDefinition& n) {
                 TensorId a = input(n, "a", kF32, {sym("n"), sym("m"), 4});
                 TensorId b = n.addConstant("b", f({4, 5}, 1));
                 TensorId c = n.addConstant("c", f({5}, 2));
                 output(n, n.addLayer("mm", MatrixMultiplyAttrs{}, {a, b, c}));
               },
               {{f({1, 3, 4})}, {f({2, 7, 4})}, {f({1, 1, 4})}}});
  v.push_back({"pooling",
               [](NetworkDefinition& n) {
                 TensorId x = input(n, "x", kF32, {sym("n"), 2, sym("h"), sym("w")});
                 PoolingAttrs p;
                 p.kernelShape = {2, 2};
                 p.strides = {2, 2};
                 p.ceilMode = true;
                 output(n, n.addLayer("max", p, {x}));
                 PoolingAttrs g;
                 g.kind = PoolingKind::kAverage;
                 g.global = true;
                 output(n, n.addLayer("avg", g, {x}));
               },
               {{f({1, 2, 4, 5})}, {f({2, 2, 7, 3})}, {f({1, 2, 2, 2})}}});
  v.push_back(
      {"elementwise_unary_activation_softmax",
       [](NetworkDefinition& n) {
         TensorId a = input(n, "a", kF32, {sym("n"), sym("m")});
         TensorId b = input(n, "b", kF32, {sym("m")});
         TensorId s = *n.addElementwise(a, b, ElementwiseKind::kMul);
         TensorId r = *n.addActivation(s, ActivationKind::kGeluErf);
         auto u = n.addLayer("exp", UnaryAttrs{UnaryKind::kAbs}, {r});
         output(n, n.addLayer("softmax", SoftmaxAttrs{-1, false}, {n.layer(*u).outputs[0]}));
       },
       {{f({2, 3}), f({3}, 1)}, {f({4, 9}), f({9}, 1)}, {f({1, 1}), f({1}, 1)}}});
  v.push_back({"pad_and_trilu",
               [](NetworkDefinition& n) {
                 TensorId x = input(n, "x", kF32, {sym("n"), sym("m")});
                 TensorId pads = n.addConstant("pads", Weights::fromInts({1, 0, 2, 1}));
                 output(n, n.addLayer("pad", PadAttrs{PadMode::kReflect}, {x, pads}));
                 TensorId k = n.addConstant("k", Weights::fromInts({1}, true));
                 output(n, n.addLayer("trilu", TriluAttrs{false}, {x, k}));
               },
               {{f({3, 2})}, {f({5, 4})}, {f({4, 3})}}});
  v.push_back({"resize_grid_sample_affine_grid",
               [](NetworkDefinition& n) {
                 TensorId x = input(n, "x", kF32, {1, 2, sym("h"), sym("w")});
                 TensorId scales = n.addConstant("scales", Weights::fromFloats({1, 1, 2, 1.5f}));
                 ResizeAttrs r;
                 r.mode = ResizeMode::kLinear;
                 output(n, n.addLayer("resize", r, {x, kNoTensor, scales}));
                 TensorId grid = input(n, "grid", kF32, {1, sym("a"), sym("b"), 2});
                 output(n, n.addLayer("sample", GridSampleAttrs{}, {x, grid}));
                 TensorId theta = input(n, "theta", kF32, {1, 2, 3});
                 TensorId size = n.addConstant("size", Weights::fromInts({1, 1, 2, 3}));
                 output(n, n.addLayer("affine", AffineGridAttrs{}, {theta, size}));
               },
               {{f({1, 2, 3, 2}), f({1, 2, 2, 2}, 1), f({1, 2, 3}, 2)},
                {f({1, 2, 5, 4}), f({1, 3, 1, 2}, 1), f({1, 2, 3}, 2)},
                {f({1, 2, 1, 1}), f({1, 1, 4, 2}, 1), f({1, 2, 3}, 2)}}});
  v.push_back(
      {"reduce_and_cumulative",
       [](NetworkDefinition& n) {
         TensorId x = input(n, "x", kF32, {sym("n"), sym("m"), sym("k")});
         TensorId axes = n.addConstant("axes", Weights::fromInts({1}));
         output(n, n.addLayer("sum", ReduceAttrs{ReduceKind::kSum, false, false}, {x, axes}));
         TensorId axis = n.addConstant("axis", Weights::fromInts({2}, true));
         output(n, n.addLayer("cumsum", CumulativeAttrs{}, {x, axis}));
       },
       {{f({1, 2, 3})}, {f({3, 5, 4})}, {f({2, 1, 1})}}});
  v.push_back({"normalization",
               [](NetworkDefinition& n) {
                 TensorId x = input(n, "x", kF32, {sym("n"), sym("m"), 4});
                 TensorId s = n.addConstant("scale", f({4}, 1));
                 TensorId b = n.addConstant("bias", f({4}, 2));
                 output(n, n.addLayer("ln", NormalizationAttrs{-1, 1e-5f}, {x, s, b}));
               },
               {{f({1, 2, 4})}, {f({3, 7, 4})}, {f({1, 1, 4})}}});
  v.push_back({"shuffle",
               [](NetworkDefinition& n) {
                 TensorId x = input(n, "x", kF32, {sym("n"), sym("m"), 4});
                 ShuffleAttrs r;
                 r.mode = ShuffleMode::kReshape;
                 TensorId shape = n.addConstant("shape", Weights::fromInts({0, -1, 2}));
                 output(n, n.addLayer("reshape", r, {x, shape}));
                 ShuffleAttrs t;
                 t.mode = ShuffleMode::kTranspose;
                 t.perm = {2, 0, 1};
                 output(n, n.addLayer("transpose", t, {x}));
                 ShuffleAttrs fl;
                 fl.mode = ShuffleMode::kFlatten;
                 fl.axis = 2;
                 output(n, n.addLayer("flatten", fl, {x}));
                 ShuffleAttrs us;
                 us.mode = ShuffleMode::kUnsqueeze;
                 TensorId axes = n.addConstant("axes", Weights::fromInts({1}));
                 output(n, n.addLayer("unsqueeze", us, {x, axes}));
               },
               {{f({1, 2, 4})}, {f({3, 5, 4})}, {f({2, 1, 4})}}});
  v.push_back({"concatenation_slice_split",
               [](NetworkDefinition& n) {
                 TensorId a = input(n, "a", kF32, {sym("n"), sym("m")});
                 TensorId b = input(n, "b", kF32, {sym("n"), sym("k")});
                 output(n, n.addLayer("concat", ConcatenationAttrs{1}, {a, b}));
                 TensorId starts = n.addConstant("starts", Weights::fromInts({1}));
                 TensorId ends = n.addConstant("ends", Weights::fromInts({-1}));
                 TensorId axes = n.addConstant("axes", Weights::fromInts({1}));
                 output(n, n.addLayer("slice", SliceAttrs{}, {a, starts, ends, axes}));
                 output(n, n.addLayer("split", SplitAttrs{0, 2}, {b}, 2));
               },
               {{f({2, 3}), f({2, 4}, 1)}, {f({4, 6}), f({4, 1}, 1)}, {f({1, 2}), f({1, 5}, 1)}}});
  v.push_back({"gather_select_cast_expand_shape",
               [](NetworkDefinition& n) {
                 TensorId x = input(n, "x", kF32, {sym("n"), sym("m")});
                 TensorId c = input(n, "c", DataType::kBool, {sym("n"), sym("m")});
                 TensorId idx = n.addConstant("idx", Weights::fromInts({0, 0, 1}));
                 output(n, n.addLayer("gather", GatherAttrs{GatherMode::kDefault, 1, 0}, {x, idx}));
                 TensorId zero = n.addConstant("zero", Weights::fromFloats({0}, true));
                 output(n, n.addLayer("select", SelectAttrs{}, {c, x, zero}));
                 output(n, n.addLayer("cast", CastAttrs{DataType::kInt32}, {x}));
                 TensorId shape = n.addConstant("shape", Weights::fromInts({2, 1, 1}));
                 output(n, n.addLayer("expand", ExpandAttrs{}, {x, shape}));
                 output(n, n.addLayer("shape_of", ShapeOfAttrs{}, {x}));
               },
               {{f({2, 3}), data(DataType::kBool, {2, 3}, 3)},
                {f({5, 2}), data(DataType::kBool, {5, 2}, 3)},
                {f({1, 4}), data(DataType::kBool, {1, 4}, 3)}}});
  v.push_back({"pointwise_and_attention",
               [](NetworkDefinition& n) {
                 TensorId a = input(n, "a", kF32, {sym("b"), 2, sym("s"), 4});
                 TensorId m = input(n, "m", kF32, {sym("s"), 1});
                 output(n, n.addLayer("pw", PointwiseAttrs{"add(mul(x0, 0.5), erf(x1))"}, {a, m}));
                 AttentionAttrs causal;
                 causal.scale = 0.5f;
                 causal.causal = true;
                 output(n, n.addLayer("att", causal, {a, a, a}));
                 AttentionAttrs merged;
                 merged.layout = AttentionLayout::kMerged;
                 merged.numHeads = 2;
                 ShuffleAttrs flat;
                 flat.mode = ShuffleMode::kReshape;
                 TensorId shape = n.addConstant("shape", Weights::fromInts({0, 0, -1}));
                 TensorId q = n.layer(*n.addLayer("flat", flat, {a, shape})).outputs[0];
                 output(n, n.addLayer("att_merged", merged, {q, q, q}));
               },
               {{f({1, 2, 3, 4}), f({3, 1}, 1)},
                {f({2, 2, 5, 4}), f({5, 1}, 1)},
                {f({1, 2, 1, 4}), f({1, 1}, 1)}}});
  // Class indices in [0, classes) for a loss target of dims `d`.
  auto targets = [](Dims d, int64_t classes) {
    Weights w = *Weights::zeros(DataType::kInt64, d);
    for (int64_t i = 0; i < w.count(); ++i)
      static_cast<int64_t*>(w.mutableData())[i] = (i * 7 + 1) % classes;
    return w;
  };
  v.push_back({"negative_log_likelihood_arg_max",
               [](NetworkDefinition& n) {
                 TensorId x = input(n, "x", kF32, {sym("n"), 3, sym("k")});
                 TensorId t = input(n, "t", DataType::kInt64, {sym("n"), sym("k")});
                 TensorId w = n.addConstant("w", f({3}, 4));
                 NegativeLogLikelihoodAttrs none;
                 none.reduction = LossReduction::kNone;
                 output(n, n.addLayer("nll_none", none, {x, t, w}));
                 NegativeLogLikelihoodAttrs mean;
                 mean.hasIgnoreIndex = true;
                 mean.ignoreIndex = 1;
                 output(n, n.addLayer("nll_mean", mean, {x, t}));
                 TensorId axes = n.addConstant("axes", Weights::fromInts({2}));
                 ReduceAttrs arg;
                 arg.kind = ReduceKind::kArgMax;
                 output(n, n.addLayer("argmax", arg, {x, axes}));
               },
               {{f({2, 3, 4}), targets({2, 4}, 3)},
                {f({5, 3, 1}), targets({5, 1}, 3)},
                {f({1, 3, 7}), targets({1, 7}, 3)}}});
  v.push_back({"determinant_einsum_window_dft_stft",
               [](NetworkDefinition& n) {
                 TensorId x = input(n, "x", kF32, {sym("n"), 2, 2});
                 TensorId s = input(n, "s", kF32, {sym("b"), sym("l"), 1});
                 output(n, n.addLayer("det", DeterminantAttrs{}, {x}));
                 EinsumAttrs e;
                 e.inputLabels = {0, 8, 9, -1, 0, 9, 10, -1};  // bij,bjk->bik
                 e.outputLabels = {0, 8, 10};
                 output(n, n.addLayer("einsum", e, {x, x}));
                 TensorId size = n.addConstant("size", Weights::fromInts({5}, true));
                 output(n, n.addLayer("window", WindowAttrs{}, {size}));
                 TensorId axis = n.addConstant("axis", Weights::fromInts({1}, true));
                 output(n, n.addLayer("dft", DftAttrs{false, true}, {s, axis}));
                 TensorId step = n.addConstant("step", Weights::fromInts({2}, true));
                 TensorId length = n.addConstant("length", Weights::fromInts({2}, true));
                 output(n, n.addLayer("stft", StftAttrs{}, {s, step, kNoTensor, length}));
                 TensorId rate = n.addConstant("rate", Weights::fromInts({8000}, true));
                 TensorId lo = n.addConstant("lo", Weights::fromFloats({0}, true));
                 TensorId hi = n.addConstant("hi", Weights::fromFloats({2000}, true));
                 output(n, n.addLayer("mel", MelWeightMatrixAttrs{}, {step, size, rate, lo, hi}));
               },
               {{f({1, 2, 2}), f({1, 4, 1}, 1)},
                {f({3, 2, 2}), f({2, 6, 1}, 1)},
                {f({2, 2, 2}), f({1, 2, 1}, 1)}}});
  v.push_back({"fill_with_run_time_limit",
               [](NetworkDefinition& n) {
                 TensorId limit = input(n, "limit", DataType::kInt64, {});
                 TensorId start = n.addConstant("start", Weights::fromInts({2}, true));
                 TensorId delta = n.addConstant("delta", Weights::fromInts({3}, true));
                 output(n, n.addLayer("range", FillAttrs{}, {start, limit, delta}));
               },
               {{Weights::fromInts({11}, true)},
                {Weights::fromInts({40}, true)},
                {Weights::fromInts({3}, true)},
                {Weights::fromInts({0}, true)}}});
  return v;
}

TEST(Reshape, EveryReferenceKernelRunsSeveralShapesWithOneKernelObject) {
  std::set<std::string> kinds;
  for (const ReshapeCase& c : cases()) {
    SCOPED_TRACE(c.name);
    check(c);
    NetworkDefinition net;
    c.build(net);
    for (const Layer& l : net.layers())
      kinds.insert(layerKindName(l.kind()));
  }
  // Every executed layer kind is covered.
  for (int32_t k = 0; k < kLayerKindCount; ++k) {
    auto kind = static_cast<LayerKind>(k);
    if (kind == LayerKind::kSymbolicConstant) continue;  // never executed
    EXPECT_TRUE(kinds.count(layerKindName(kind))) << layerKindName(kind) << " is not covered";
  }
}

}  // namespace
}  // namespace kiln
