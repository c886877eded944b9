// Builder passes on a hand-written network: structure before/after and numbers.
#include "passes/passes.h"
#include "test_util.h"

namespace kiln {
namespace {

/// x[batch, 6] -> reshape to [shape(x)[0], 3, 2] via exporter-style shape arithmetic -> relu,
/// plus a dead tanh branch.
NetworkDefinition shapeArithmeticNet() {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", DataType::kFloat32, {Dim::named("batch"), Dim::fixed(6)});
  LayerId shape = *net.addLayer("shape", ShapeOfAttrs{}, {x});
  TensorId zero = net.addConstant("zero", Weights::fromInts({0}, /*scalar=*/true));
  LayerId first = *net.addLayer("first", GatherAttrs{}, {net.layer(shape).outputs[0], zero});
  TensorId axes = net.addConstant("axes", Weights::fromInts({0}));
  LayerId unsq = *net.addLayer("unsq", ShuffleAttrs{ShuffleMode::kUnsqueeze},
                               {net.layer(first).outputs[0], axes});
  TensorId rest = net.addConstant("rest", Weights::fromInts({3, 2}));
  LayerId cat = *net.addLayer("cat", ConcatenationAttrs{0}, {net.layer(unsq).outputs[0], rest});
  LayerId reshape =
      *net.addLayer("reshape", ShuffleAttrs{ShuffleMode::kReshape}, {x, net.layer(cat).outputs[0]});
  TensorId y = *net.addActivation(net.layer(reshape).outputs[0], ActivationKind::kRelu);
  (void)*net.addActivation(x, ActivationKind::kTanh);  // dead
  EXPECT_TRUE(net.markOutput(y).isOk());
  return net;
}

TEST(Passes, ShapeArithmeticFoldsAndDeadCodeGoes) {
  NetworkDefinition net = shapeArithmeticNet();
  ASSERT_TRUE(net.verify().isOk()) << net.verify().toString();
  EXPECT_EQ(net.liveLayerCount(), 10u);
  BuilderConfig config;
  config.symbols["batch"] = 2;
  auto engine = Builder::build(net, config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  // Only the reshape and the relu execute; the shape arithmetic became one constant.
  auto layers = (*engine)->layers();
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0].kind, "Shuffle");
  EXPECT_EQ(layers[1].kind, "Activation");
  EXPECT_EQ(layers[0].outputShapes[0], "f32[2, 3, 2]");
  std::string log;
  for (const auto& l : (*engine)->buildLog())
    log += l + "\n";
  EXPECT_NE(log.find("fold: ShapeOf 'shape' -> constant"), std::string::npos) << log;
  EXPECT_NE(log.find("fold: Concatenation 'cat' -> constant"), std::string::npos) << log;
  EXPECT_NE(log.find("dce: removed 1 unused layers"), std::string::npos) << log;

  // Numbers: relu of x, reshaped.
  std::vector<float> xs = {-1, 2, -3, 4, -5, 6, 7, -8, 9, -10, 11, -12};
  Weights xw = *Weights::copyFrom(DataType::kFloat32, {2, 6}, xs.data(), xs.size() * 4);
  auto outs = test::runEngine(**engine, {{"x", xw}});
  ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
  ASSERT_EQ((*outs)[0].dims(), (Dims{2, 3, 2}));
  for (size_t i = 0; i < xs.size(); ++i)
    EXPECT_EQ((*outs)[0].as<float>()[i], std::max(0.0f, xs[i])) << i;
}

TEST(Passes, NetworkTextDump) {
  NetworkDefinition net = shapeArithmeticNet();
  std::string dump = net.toString();
  EXPECT_NE(dump.find("input %x:f32[batch, 6]"), std::string::npos) << dump;
  EXPECT_NE(dump.find("Shuffle{mode=reshape"), std::string::npos) << dump;
  EXPECT_NE(dump.find("Activation{kind=relu"), std::string::npos) << dump;
}

TEST(Passes, VerifierCatchesBadGraphs) {
  NetworkDefinition net;
  TensorId x = *net.addInput("x", DataType::kFloat32, {Dim::fixed(2)});
  EXPECT_FALSE(net.addInput("x", DataType::kFloat32, {}).hasValue());  // duplicate name
  auto bad = net.addLayer("bad", UnaryAttrs{}, {x + 100});
  EXPECT_FALSE(bad.hasValue());
  EXPECT_NE(bad.status().message().find("'bad'"), std::string::npos);
  EXPECT_EQ(net.verify().code(), StatusCode::kInvalidModel);  // no outputs
  EXPECT_TRUE(net.markOutput(x).isOk());
  EXPECT_TRUE(net.verify().isOk());
}

TEST(Passes, ConstantAndInputOutputsGetCopies) {
  // y = x (an input) and z = constant: both must still be written to the user's buffers.
  NetworkDefinition net;
  TensorId x = *net.addInput("x", DataType::kFloat32, {Dim::fixed(3)});
  TensorId c = net.addConstant("c", Weights::fromFloats({1, 2, 3}));
  ASSERT_TRUE(net.markOutput(x).isOk());
  ASSERT_TRUE(net.markOutput(c).isOk());
  auto engine = Builder::build(net, BuilderConfig{});
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  EXPECT_EQ((*engine)->outputs()[0].name, "x:output");
  EXPECT_EQ((*engine)->outputs()[1].name, "c");
  std::vector<float> xs = {4, 5, 6};
  auto outs = test::runEngine(**engine, {{"x", Weights::fromFloats(xs)}});
  ASSERT_TRUE(outs.hasValue()) << outs.status().toString();
  EXPECT_EQ((*outs)[0].as<float>()[2], 6.0f);
  EXPECT_EQ((*outs)[1].as<float>()[1], 2.0f);
}

TEST(Passes, MemoryArenaSmallerThanSumForChains) {
  // A chain of 6 relus on [1024] floats: at most two intermediates are alive at once.
  NetworkDefinition net;
  TensorId t = *net.addInput("x", DataType::kFloat32, {Dim::fixed(1024)});
  for (int i = 0; i < 6; ++i)
    t = *net.addActivation(t, ActivationKind::kRelu);
  ASSERT_TRUE(net.markOutput(t).isOk());
  BuilderConfig config;
  config.disabledPasses = {"all"};  // the optimizer would fuse the chain into one layer
  auto engine = Builder::build(net, config);
  ASSERT_TRUE(engine.hasValue()) << engine.status().toString();
  MemoryInfo m = (*engine)->memory();
  EXPECT_EQ(m.activationCount, 5u);
  EXPECT_EQ(m.activationBytes, 5u * 4096);
  EXPECT_EQ(m.arenaBytes, 2u * 4096);
}

}  // namespace
}  // namespace kiln
