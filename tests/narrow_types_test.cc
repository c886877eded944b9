// Narrow and quantized element types: names, sizes, ONNX TensorProto packing of the sub-byte
// types (kiln keeps one element per byte in memory), and the float8 / float4 / e8m0 codecs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "importer/onnx/model_builder.h"
#include "kiln/tensor_file.h"
#include "util/narrow_float.h"

namespace kiln {
namespace {

using onnx_import::encodeTensorProto;

// ONNX TensorProto type codes.
constexpr int32_t kOnnxInt4 = 22, kOnnxUInt2 = 25, kOnnxFloat4E2M1 = 23, kOnnxUInt16 = 4;

TEST(NarrowTypes, NamesSizesAndParse) {
  EXPECT_EQ(dataTypeSize(DataType::kInt4), 1u);
  EXPECT_EQ(dataTypeBits(DataType::kInt4), 4u);
  EXPECT_EQ(dataTypeBits(DataType::kUInt2), 2u);
  EXPECT_EQ(dataTypeSize(DataType::kUInt64), 8u);
  EXPECT_EQ(dataTypeBits(DataType::kInt16), 16u);
  for (int i = 0; i <= static_cast<int>(kLastDataType); ++i) {
    auto t = static_cast<DataType>(i);
    EXPECT_EQ(parseDataType(dataTypeName(t)), t) << dataTypeName(t);
  }
  EXPECT_STREQ(dataTypeName(DataType::kFloat8E4M3FNUZ), "f8e4m3fnuz");
}

TEST(NarrowTypes, SubByteTensorsUnpackOnReadAndPackOnWrite) {
  // int4 [-8, 7, -1] packs low nibble first: 0x78, 0x0f
  std::string raw = encodeTensorProto("x", kOnnxInt4, {3}, std::string("\x78\x0f", 2));
  auto t = parseTensorProto(raw.data(), raw.size(), "int4");
  ASSERT_TRUE(t.hasValue()) << t.status().message();
  ASSERT_EQ(t->value.dtype(), DataType::kInt4);
  const int8_t* v = t->value.as<int8_t>();
  EXPECT_EQ(std::vector<int>(v, v + 3), (std::vector<int>{-8, 7, -1}));
  EXPECT_EQ(t->value.toInts().value(), (std::vector<int64_t>{-8, 7, -1}));

  // uint2 [1, 2, 3, 0, 3] packs four per byte: 0x39, 0x03
  raw = encodeTensorProto("u", kOnnxUInt2, {5}, std::string("\x39\x03", 2));
  t = parseTensorProto(raw.data(), raw.size(), "uint2");
  ASSERT_TRUE(t.hasValue()) << t.status().message();
  EXPECT_EQ(t->value.toInts().value(), (std::vector<int64_t>{1, 2, 3, 0, 3}));

  // A raw_data of the wrong packed size is refused with the sizes named.
  raw = encodeTensorProto("bad", kOnnxInt4, {5}, std::string("\x78\x0f", 2));
  t = parseTensorProto(raw.data(), raw.size(), "bad");
  ASSERT_FALSE(t.hasValue());
  EXPECT_NE(t.status().message().find("need 3"), std::string::npos) << t.status().message();

  // Writing packs again; reading the file gives the same values.
  const std::vector<int8_t> f4 = {0x1, 0xe, 0x7};
  Weights w = *Weights::copyFrom(DataType::kFloat4E2M1, {3}, f4.data(), f4.size());
  const std::string path = ::testing::TempDir() + "/kiln_f4.pb";
  ASSERT_TRUE(writeTensorFile(path, "f4", w).isOk());
  auto back = readTensorFile(path);
  ASSERT_TRUE(back.hasValue()) << back.status().message();
  EXPECT_EQ(back->value.toDoubles().value(), (std::vector<double>{0.5, -4, 6}));
  std::remove(path.c_str());
}

TEST(NarrowTypes, WiderIntegersReadRaw) {
  std::string raw = encodeTensorProto("u16", kOnnxUInt16, {2}, std::string("\xff\xff\x01\x00", 4));
  auto t = parseTensorProto(raw.data(), raw.size(), "uint16");
  ASSERT_TRUE(t.hasValue()) << t.status().message();
  EXPECT_EQ(t->value.toInts().value(), (std::vector<int64_t>{65535, 1}));
  (void)kOnnxFloat4E2M1;
}

TEST(NarrowTypes, Float8Codecs) {
  EXPECT_EQ(decodeNarrowFloat(DataType::kFloat8E4M3FN, 0x7e), 448.0);
  EXPECT_TRUE(std::isnan(decodeNarrowFloat(DataType::kFloat8E4M3FN, 0x7f)));
  EXPECT_TRUE(std::isnan(decodeNarrowFloat(DataType::kFloat8E4M3FNUZ, 0x80)));
  EXPECT_EQ(decodeNarrowFloat(DataType::kFloat8E4M3FNUZ, 0x7f), 240.0);
  EXPECT_EQ(decodeNarrowFloat(DataType::kFloat8E5M2FNUZ, 0x7f), 57344.0);
  EXPECT_TRUE(std::isinf(decodeNarrowFloat(DataType::kFloat8E5M2, 0xfc)));
  EXPECT_EQ(decodeNarrowFloat(DataType::kFloat8E8M0, 127), 1.0);
  EXPECT_TRUE(std::isnan(decodeNarrowFloat(DataType::kFloat8E8M0, 0xff)));
  EXPECT_EQ(decodeNarrowFloat(DataType::kFloat4E2M1, 0x7), 6.0);
  // Every code of every format survives decode -> encode (NaNs to the format's NaN).
  for (DataType t : {DataType::kFloat8E4M3FN, DataType::kFloat8E4M3FNUZ, DataType::kFloat8E5M2,
                     DataType::kFloat8E5M2FNUZ, DataType::kFloat4E2M1}) {
    const int codes = t == DataType::kFloat4E2M1 ? 16 : 256;
    for (int c = 0; c < codes; ++c) {
      const double v = decodeNarrowFloat(t, static_cast<uint8_t>(c));
      if (std::isnan(v)) continue;
      EXPECT_EQ(encodeNarrowFloat(t, v, false), c) << dataTypeName(t) << " code " << c;
    }
  }
  EXPECT_EQ(wrapSubByteInt(DataType::kInt2, 2), -2);
  EXPECT_EQ(floatToSubByteInt(DataType::kUInt4, -9.5), 7);
}

}  // namespace
}  // namespace kiln
