// Hostile files: paths that are no regular file, external data that points outside the model's
// folder or past its file, and Range whose output size overflows. Each ends in an error that
// names the file (or the layer) and says why, and none blocks or reads what it should not.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "importer/onnx/model_builder.h"
#include "kiln/kiln.h"
#include "test_util.h"
#include "util/file_io.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using onnx_import::ModelBuilder;

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Expects an error whose message holds every one of `parts`.
template <class T>
void expectError(const Expected<T>& r, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(r.hasValue()) << "expected an error holding '" << *parts.begin() << "'";
  for (const std::string& p : parts)
    EXPECT_NE(r.status().message().find(p), std::string::npos)
        << "'" << p << "' not in: " << r.status().toString();
}

class HostileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::tempDir(std::string("hostile_") +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    model = dir + "/model";
    fs::create_directories(model);
    outside = dir + "/outside";
    fs::create_directories(outside);
  }
  void TearDown() override { fs::remove_all(dir); }

  /// model/NAME.onnx: y = x * w, w (4 floats) read from external `location` at `offset`.
  std::string externalModel(const std::string& name, const std::string& location,
                            int64_t offset = 0, int64_t length = 16) {
    ModelBuilder b(17);
    b.input("x", DataType::kFloat32, {Dim::fixed(4)})
        .externalInitializer("w", DataType::kFloat32, {4}, location, offset, length)
        .node({"Mul", {"x", "w"}, {"y"}})
        .output("y");
    std::string path = model + "/" + name + ".onnx";
    writeBytes(path, b.serialize());
    return path;
  }

  std::string dir, model, outside;
  const std::string weights = std::string(16, '\x01');
};

// ---- one reader for whole files ---------------------------------------------------------------

TEST_F(HostileFiles, ReaderRefusesWhatIsNoRegularFile) {
  expectError(readRegularFile(dir + "/absent", "model", 1 << 20),
              {"model '" + dir + "/absent'", "No such file or directory"});
  EXPECT_EQ(readRegularFile(dir + "/absent", "model", 1).status().code(), StatusCode::kNotFound);
  expectError(readRegularFile(dir, "model", 1 << 20), {"'" + dir + "'", "is a directory"});
  expectError(readRegularFile("/dev/zero", "model", 1 << 20),
              {"'/dev/zero'", "is a character device, not a regular file"});
  ASSERT_EQ(::mkfifo((dir + "/fifo").c_str(), 0600), 0);
  // A FIFO without a writer would block a plain open: it is refused at once.
  expectError(readRegularFile(dir + "/fifo", "plan", 1 << 20),
              {"plan '" + dir + "/fifo'", "is a FIFO"});
  writeBytes(dir + "/big", std::string(100, 'x'));
  expectError(readRegularFile(dir + "/big", "tensor file", 99, "a reason"),
              {"'" + dir + "/big' is 100 bytes", "limit of 99 bytes", "(a reason)"});
  auto ok = readRegularFile(dir + "/big", "tensor file", 100);
  ASSERT_TRUE(ok) << ok.status().toString();
  EXPECT_EQ(*ok, std::string(100, 'x'));
  if (::geteuid() != 0) {  // root reads any file
    writeBytes(dir + "/locked", "x");
    fs::permissions(dir + "/locked", fs::perms::none);
    expectError(readRegularFile(dir + "/locked", "model", 10), {"Permission denied", "locked"});
  }
}

TEST_F(HostileFiles, ReadAtChecksTheRangeWithoutOverflow) {
  writeBytes(dir + "/f", "0123456789");
  auto f = RegularFile::open(dir + "/f", "data");
  ASSERT_TRUE(f) << f.status().toString();
  char buf[4] = {};
  ASSERT_TRUE(f->readAt(6, buf, 4).isOk());
  EXPECT_EQ(std::string(buf, 4), "6789");
  EXPECT_FALSE(f->readAt(7, buf, 4).isOk());
  // offset + n wraps past 2^64: still refused.
  Status wrap = f->readAt(std::numeric_limits<uint64_t>::max() - 1, buf, 4);
  ASSERT_FALSE(wrap.isOk());
  EXPECT_NE(wrap.message().find("would pass its end"), std::string::npos) << wrap.toString();
}

TEST_F(HostileFiles, ModelsTensorsAndPlansThatAreNoRegularFileAreRefused) {
  ASSERT_EQ(::mkfifo((dir + "/fifo").c_str(), 0600), 0);
  for (const std::string& path : {dir + "/fifo", std::string("/dev/zero"), dir}) {
    auto net = OnnxParser::parseFile(path);
    expectError(net, {"model '" + path + "'", "not a regular file"});
    auto t = readTensorFile(path);
    expectError(t, {"tensor file '" + path + "'", "not a regular file"});
    auto plan = Runtime::deserializeFile(path);
    expectError(plan, {"plan '" + path + "'", "not a regular file"});
  }
  expectError(readTensorFile(dir + "/none.pb"), {"'" + dir + "/none.pb'", "No such file"});
  expectError(Runtime::deserializeFile(dir + "/none.plan"),
              {"'" + dir + "/none.plan'", "No such file"});
  // Writing a tensor over a FIFO or into a directory is refused without blocking.
  Status w = writeTensorFile(dir + "/fifo", "t", Weights::fromFloats({1}));
  ASSERT_FALSE(w.isOk());
  EXPECT_NE(w.message().find("is a FIFO"), std::string::npos) << w.toString();
  w = writeTensorFile(dir, "t", Weights::fromFloats({1}));
  ASSERT_FALSE(w.isOk());
  EXPECT_NE(w.message().find("is a directory"), std::string::npos) << w.toString();
  w = writeTensorFile(dir + "/no/such/dir/t.pb", "t", Weights::fromFloats({1}));
  ASSERT_FALSE(w.isOk());
  EXPECT_NE(w.message().find("No such file or directory"), std::string::npos) << w.toString();
}

// ---- external data ----------------------------------------------------------------------------

TEST_F(HostileFiles, ExternalDataInsideTheFolderLoads) {
  writeBytes(model + "/w.bin", "pad" + weights);
  auto net = OnnxParser::parseFile(externalModel("m", "w.bin", 3));
  ASSERT_TRUE(net) << net.status().toString();
  // A symlink that stays inside the folder, and a subfolder, are fine.
  fs::create_directories(model + "/sub");
  writeBytes(model + "/sub/w.bin", weights);
  fs::create_symlink("sub/w.bin", model + "/link.bin");
  auto viaLink = OnnxParser::parseFile(externalModel("l", "link.bin"));
  ASSERT_TRUE(viaLink) << viaLink.status().toString();
  auto viaSub = OnnxParser::parseFile(externalModel("s", "sub/w.bin"));
  ASSERT_TRUE(viaSub) << viaSub.status().toString();
}

TEST_F(HostileFiles, ExternalDataOutsideTheFolderIsRefused) {
  writeBytes(outside + "/secret.bin", weights);
  // Absolute paths and '..' are refused before the file system is asked.
  expectError(OnnxParser::parseFile(externalModel("abs", outside + "/secret.bin")),
              {"tensor 'w'", "'" + outside + "/secret.bin'", "relative path inside"});
  expectError(OnnxParser::parseFile(externalModel("up", "../outside/secret.bin")),
              {"tensor 'w'", "'../outside/secret.bin'", "without '..'"});
  // A symlink in the folder that points out of it (what would copy /etc/passwd into a plan).
  fs::create_symlink(outside + "/secret.bin", model + "/link.bin");
  expectError(OnnxParser::parseFile(externalModel("link", "link.bin")),
              {"tensor 'w'", "'link.bin'",
               "resolves to '" + fs::canonical(outside).string() + "/secret.bin'",
               "outside the model's folder"});
  fs::create_symlink("/etc/passwd", model + "/passwd");
  expectError(OnnxParser::parseFile(externalModel("passwd", "passwd", 0, 16)),
              {"'passwd'", "resolves to '/etc/passwd'", "outside the model's folder"});
  // A symlinked folder that leads out.
  fs::create_directory_symlink(outside, model + "/out");
  expectError(OnnxParser::parseFile(externalModel("dirlink", "out/secret.bin")),
              {"'out/secret.bin'", "outside the model's folder"});
  // Devices are outside too.
  fs::create_symlink("/dev/zero", model + "/zero");
  expectError(OnnxParser::parseFile(externalModel("zero", "zero")),
              {"'zero'", "resolves to '/dev/zero'", "outside"});
}

TEST_F(HostileFiles, ExternalDataThatIsNoRegularFileIsRefused) {
  ASSERT_EQ(::mkfifo((model + "/fifo").c_str(), 0600), 0);
  // A FIFO inside the folder: refused at once, never opened for a blocking read.
  expectError(OnnxParser::parseFile(externalModel("fifo", "fifo")),
              {"tensor 'w'", "external data file", "fifo'", "is a FIFO, not a regular file"});
  fs::create_directories(model + "/d");
  expectError(OnnxParser::parseFile(externalModel("dir", "d")), {"tensor 'w'", "is a directory"});
  expectError(OnnxParser::parseFile(externalModel("absent", "absent.bin")),
              {"tensor 'w'", "absent.bin", "No such file or directory"});
  // The model's own folder resolved through a symlink is still the folder: a model reached via
  // a symlinked folder loads its data.
  writeBytes(model + "/w.bin", weights);
  externalModel("m", "w.bin");
  fs::create_directory_symlink(model, dir + "/alias");
  auto net = OnnxParser::parseFile(dir + "/alias/m.onnx");
  EXPECT_TRUE(net) << net.status().toString();
}

TEST_F(HostileFiles, ExternalDataOffsetAndLengthAreChecked) {
  writeBytes(model + "/w.bin", weights + weights);  // 32 bytes
  EXPECT_TRUE(OnnxParser::parseFile(externalModel("end", "w.bin", 16)));
  expectError(OnnxParser::parseFile(externalModel("past", "w.bin", 17)),
              {"tensor 'w'", "w.bin", "holds 32 bytes", "16 bytes at offset 17"});
  // offset + 16 wraps past INT64_MAX.
  const int64_t big = std::numeric_limits<int64_t>::max() - 3;
  expectError(OnnxParser::parseFile(externalModel("wrap", "w.bin", big)),
              {"tensor 'w'", "holds 32 bytes", "at offset " + std::to_string(big)});
  expectError(OnnxParser::parseFile(externalModel("neg", "w.bin", -1)),
              {"tensor 'w'", "'offset'", "'-1'"});
  expectError(OnnxParser::parseFile(externalModel("len", "w.bin", 0, 12)),
              {"tensor 'w'", "length 12", "need 16"});
  expectError(OnnxParser::parseFile(externalModel("neglen", "w.bin", 0, -16)),
              {"tensor 'w'", "'length'", "'-16'"});
}

TEST_F(HostileFiles, CliRefusesExternalDataOutsideTheFolder) {
  fs::create_symlink("/etc/passwd", model + "/passwd");
  std::string m = externalModel("passwd", "passwd", 0, 16);
  auto r = test::runCommand(test::cliPath() + " build " + m + " -o " + dir + "/p.plan");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("resolves to '/etc/passwd', outside the model's folder"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir + "/p.plan"));
}

// ---- Range whose output size comes from data --------------------------------------------------

/// A model whose output is Range(start, limit, delta) over f32 scalars.
std::string rangeModelFloat(float start, float limit, float delta) {
  ModelBuilder b(17);
  b.initializer("start", Weights::fromFloats({start}, true))
      .initializer("limit", Weights::fromFloats({limit}, true))
      .initializer("delta", Weights::fromFloats({delta}, true))
      .node({"Range", {"start", "limit", "delta"}, {"y"}})
      .output("y");
  return b.serialize();
}

/// The same over i64 scalars.
std::string rangeModelInt(int64_t start, int64_t limit, int64_t delta) {
  ModelBuilder b(17);
  b.initializer("start", Weights::fromInts({start}, true))
      .initializer("limit", Weights::fromInts({limit}, true))
      .initializer("delta", Weights::fromInts({delta}, true))
      .node({"Range", {"start", "limit", "delta"}, {"y"}})
      .output("y");
  return b.serialize();
}

/// Parses and builds `bytes`; the first error on the way, or the engine.
Expected<std::shared_ptr<Engine>> buildBytes(const std::string& bytes) {
  KILN_ASSIGN_OR_RETURN(NetworkDefinition net,
                        OnnxParser::parseBuffer(bytes.data(), bytes.size(), "range.onnx"));
  return Builder::build(net, BuilderConfig{});
}

TEST(HostileRange, Int64CountThatOverflowsIsAnError) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  // limit - start = 2^64 - 1: wrapped in int64 it was -1, and the output silently empty.
  expectError(buildBytes(rangeModelInt(kMin, kMax, 1)),
              {"range output size overflows", "start -9223372036854775808",
               "limit 9223372036854775807", "delta 1"});
  expectError(buildBytes(rangeModelInt(kMax, kMin, -1)), {"range output size overflows"});
  // The count fits int64, its bytes do not.
  expectError(buildBytes(rangeModelInt(0, kMax, 1)),
              {"range output size overflows", "elements of i64"});
  expectError(buildBytes(rangeModelInt(0, 10, 0)), {"range delta is 0"});
  // The full span with a large step is fine: 4 elements, computed without wrapping.
  auto e = buildBytes(rangeModelInt(kMin, kMax, int64_t{1} << 62));
  ASSERT_TRUE(e) << e.status().toString();
  auto out = test::runEngine(**e, {});
  ASSERT_TRUE(out) << out.status().toString();
  ASSERT_EQ((*out)[0].count(), 4);
  const int64_t* v = (*out)[0].as<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(v, v + 4),
            (std::vector<int64_t>{kMin, -(int64_t{1} << 62), 0, int64_t{1} << 62}));
}

TEST(HostileRange, FloatParamsMustBeFiniteAndTheCountFit) {
  const double nan = std::nan(""), inf = INFINITY;
  expectError(buildBytes(rangeModelFloat(0, 10, nan)), {"range delta is nan", "must be finite"});
  expectError(buildBytes(rangeModelFloat(0, 10, inf)), {"range delta is inf", "must be finite"});
  expectError(buildBytes(rangeModelFloat(-inf, 10, 1)), {"range start is -inf", "must be finite"});
  expectError(buildBytes(rangeModelFloat(0, nan, 1)), {"range limit is nan"});
  expectError(buildBytes(rangeModelFloat(0, 10, 0)), {"range delta is 0"});
  expectError(buildBytes(rangeModelFloat(0, 1e30, 1)),
              {"range output size overflows", "limit 1.0000000150474662e+30"});
  expectError(buildBytes(rangeModelFloat(-3e38, 3e38, 1e-30)), {"range output size overflows"});
  auto ok = buildBytes(rangeModelFloat(1, 2, 0.25));
  EXPECT_TRUE(ok) << ok.status().toString();
}

TEST(HostileRange, CliReportsTheOverflowWithExitOne) {
  std::string dir = test::tempDir("range_cli");
  writeBytes(dir + "/range.onnx", rangeModelInt(std::numeric_limits<int64_t>::min(),
                                                std::numeric_limits<int64_t>::max(), 1));
  auto r =
      test::runCommand(test::cliPath() + " build " + dir + "/range.onnx -o " + dir + "/range.plan");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("range output size overflows"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln
