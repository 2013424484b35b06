// The weight types: every SIMD target's dequantisation and integer dot
// product against the scalar code, the dot product against the f32
// reference, the quantisers' round trip, and bit-exact agreement with
// gguf-py's numpy dequantizers on random blocks (tests/reference/).
#include <hwy/targets.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "core/dtype.h"
#include "core/tensor.h"
#include "quant/quant.h"
#include "testutil.h"

namespace {

using ss::DType;
using ss::DTypeTraits;

struct QuantType {
  DType type;
  std::vector<int> f16_fields;  // byte offsets of the f16 scales in a block
  float (*scalar_dot)(const void*, const ss::QuantRow&, int64_t);
};
const std::vector<QuantType>& quant_types() {
  using namespace ss::quant;
  static const std::vector<QuantType> t = {
      {DType::Q4_0, {0}, dot_q4_0_scalar},     {DType::Q4_1, {0, 2}, dot_q4_1_scalar},
      {DType::Q5_0, {0}, dot_q5_0_scalar},     {DType::Q5_1, {0, 2}, dot_q5_1_scalar},
      {DType::Q8_0, {0}, dot_q8_0_scalar},     {DType::Q2_K, {80, 82}, dot_q2_k_scalar},
      {DType::Q3_K, {108}, dot_q3_k_scalar},   {DType::Q4_K, {0, 2}, dot_q4_k_scalar},
      {DType::Q5_K, {0, 2}, dot_q5_k_scalar},  {DType::Q6_K, {208}, dot_q6_k_scalar},
      {DType::IQ4_NL, {0}, dot_iq4_nl_scalar},
  };
  return t;
}

// n values of random blocks with finite scales of either sign in [1e-3, 1].
std::vector<uint8_t> random_blocks(const QuantType& q, int64_t n, std::mt19937& rng) {
  const DTypeTraits& tr = ss::traits(q.type);
  std::vector<uint8_t> b(tr.bytes(n));
  for (uint8_t& x : b) x = uint8_t(rng());
  std::uniform_real_distribution<float> mag(-3, 0);
  for (size_t blk = 0; blk < b.size(); blk += size_t(tr.block_bytes))
    for (int off : q.f16_fields) {
      const uint16_t h = ss::f32_to_f16((rng() & 1 ? 1 : -1) * std::pow(10.0f, mag(rng)));
      std::memcpy(&b[blk + size_t(off)], &h, 2);
    }
  return b;
}

std::vector<int64_t> targets() { return hwy::SupportedAndGeneratedTargets(); }

TEST(Quant, TableIsConsistent) {
  for (const DTypeTraits& t : ss::all_dtypes()) {
    EXPECT_EQ(&ss::traits(t.type), &t) << t.name;
    EXPECT_EQ(ss::traits_of_ggml(t.ggml), &t) << t.name;
    EXPECT_EQ(ss::traits_of_name(t.name), &t) << t.name;
  }
  EXPECT_EQ(ss::traits_of_ggml(16), nullptr);  // IQ2_XXS: not read
  EXPECT_EQ(ss::traits_of_name("q9_9"), nullptr);
  EXPECT_EQ(quant_types().size() + 3, ss::all_dtypes().size());
}

TEST(Quant, EveryTargetDequantizesAlike) {
  std::mt19937 rng(7);
  for (const QuantType& q : quant_types()) {
    const int64_t n = 4 * 256;
    const auto b = random_blocks(q, n, rng);
    std::vector<std::vector<float>> outs;  // bit for bit; gguf-py's values are checked below
    for (int64_t t : targets()) {
      hwy::SetSupportedTargetsForTest(t);
      std::vector<float> out(n);
      ss::traits(q.type).dequantize(b.data(), out.data(), n);
      outs.push_back(out);
    }
    hwy::SetSupportedTargetsForTest(0);
    for (size_t i = 1; i < outs.size(); ++i)
      EXPECT_EQ(std::memcmp(outs[0].data(), outs[i].data(), n * 4), 0)
          << ss::dtype_name(q.type) << " target " << hwy::TargetName(targets()[i]);
    for (float v : outs[0]) ASSERT_TRUE(std::isfinite(v)) << ss::dtype_name(q.type);
  }
}

TEST(Quant, EveryTargetDotEqualsTheScalarDotAndNearTheF32Reference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> g;
  for (const QuantType& q : quant_types()) {
    const int64_t n = 6 * 256;
    const auto b = random_blocks(q, n, rng);
    std::vector<float> x(n), w(n);
    for (float& v : x) v = g(rng);
    ss::QuantRow xq;
    xq.quantize(x.data(), n);
    ss::traits(q.type).dequantize(b.data(), w.data(), n);
    // |error| of quantising x: at most d/2 per value, d = max|x_block|/127.
    double bound = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      bound += std::abs(w[i]) * xq.d[size_t(i / 32)] / 2;
      mag += std::abs(w[i] * x[i]);
    }
    const float scalar = q.scalar_dot(b.data(), xq, n);
    const float ref = ss::dot_reference(q.type, b.data(), x.data(), n);
    EXPECT_NEAR(scalar, ref, bound * 1.01 + 1e-5 * mag) << ss::dtype_name(q.type);
    for (int64_t t : targets()) {
      hwy::SetSupportedTargetsForTest(t);
      const float got = ss::traits(q.type).dot(b.data(), x.data(), &xq, n);
      EXPECT_NEAR(got, scalar, 1e-5 * mag) << ss::dtype_name(q.type) << " " << hwy::TargetName(t);
    }
    hwy::SetSupportedTargetsForTest(0);
  }
}

// The activation quantiser, naively: per 32 values d = max|x| / 127 and
// q = round(x / d) half away from zero; the sums per 16 of q.
struct NaiveRow {
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int16_t> sum16;
};
NaiveRow naive_quantize(const std::vector<float>& x) {
  NaiveRow r;
  for (size_t j = 0; j < x.size(); j += 32) {
    float amax = 0;
    for (size_t i = j; i < j + 32; ++i) amax = std::max(amax, std::abs(x[i]));
    const float d = amax / 127, id = d > 0 ? 1 / d : 0;
    r.d.push_back(d);
    for (size_t h = j; h < j + 32; h += 16) {
      int sum = 0;
      for (size_t i = h; i < h + 16; ++i) {
        r.q.push_back(int8_t(std::round(x[i] * id)));
        sum += r.q.back();
      }
      r.sum16.push_back(int16_t(sum));
    }
  }
  return r;
}

TEST(Quant, EveryTargetQuantisesActivationsAsTheNaiveCode) {
  std::mt19937 rng(17);
  std::normal_distribution<float> g;
  const int64_t n = 32 * 64;
  std::vector<float> x(n);
  for (float& v : x) v = g(rng) * std::pow(10.0f, float(rng() % 7) - 3);
  // Blocks whose scale is 1 exactly (max|x| = 127), so x / d is x: every
  // value a tie k + 1/2 of either sign, or just below or above one.
  for (int64_t j = 0; j < 8; ++j)
    for (int64_t i = 0; i < 32; ++i) {
      const float k = float(int(rng() % 126) - 63), half = (rng() & 1 ? 0.5f : -0.5f);
      const float near[3] = {k + half, std::nextafter(k + half, 0.0f),
                             std::nextafter(k + half, 200.0f)};
      x[size_t(32 * j + i)] = i == 0 ? 127.0f : near[rng() % 3];
    }
  const NaiveRow want = naive_quantize(x);
  for (int64_t t : targets()) {
    hwy::SetSupportedTargetsForTest(t);
    ss::QuantRow got;
    got.quantize(x.data(), n);
    const std::string target = hwy::TargetName(t);
    EXPECT_EQ(got.q, want.q) << target;
    EXPECT_EQ(got.d, want.d) << target;
    EXPECT_EQ(got.sum16, want.sum16) << target;
    for (size_t i = 0; i < got.dsum16.size(); ++i)
      EXPECT_EQ(got.dsum16[i], want.d[i / 2] * float(want.sum16[i])) << target;
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(Quant, TheDotCatchesAWrongWeight) {  // the checks above can fail
  std::mt19937 rng(3);
  const QuantType& q = quant_types()[1];  // q4_1
  auto b = random_blocks(q, 256, rng);
  std::vector<float> x(256, 1.0f);
  ss::QuantRow xq;
  xq.quantize(x.data(), 256);
  const float before = ss::traits(q.type).dot(b.data(), x.data(), &xq, 256);
  b[4] ^= 0x0F;  // one nibble of the first block
  EXPECT_NE(ss::traits(q.type).dot(b.data(), x.data(), &xq, 256), before);
}

TEST(Quant, QuantizersRoundTripWithinHalfAStep) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g;
  for (const DTypeTraits& t : ss::all_dtypes()) {
    if (!t.quantize || !t.quantized()) continue;
    const int64_t n = 512;
    std::vector<float> x(n), y(n);
    for (float& v : x) v = g(rng);
    std::vector<uint8_t> b(t.bytes(n));
    t.quantize(x.data(), b.data(), n);
    t.dequantize(b.data(), y.data(), n);
    const int levels = t.type == DType::Q8_0                            ? 254
                       : t.type == DType::Q5_0 || t.type == DType::Q5_1 ? 31
                                                                        : 15;
    for (int64_t blk = 0; blk < n; blk += 32) {
      float lo = x[blk], hi = x[blk];
      for (int i = 0; i < 32; ++i) lo = std::min(lo, x[blk + i]), hi = std::max(hi, x[blk + i]);
      const float step = (hi - lo) / levels * 2.02f;  // signed types: range 2 max|x|
      for (int i = 0; i < 32; ++i)
        EXPECT_LE(std::abs(y[blk + i] - x[blk + i]), step / 2 + 1e-3f) << t.name << " " << blk + i;
    }
  }
}

std::vector<uint8_t> unhex(const std::string& h) {
  std::vector<uint8_t> out(h.size() / 2);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = uint8_t(std::stoi(h.substr(2 * i, 2), nullptr, 16));
  return out;
}

TEST(Quant, DequantizationEqualsGgufPyBitForBit) {
  const std::string path = sstest::repo("tests/reference/quant_vectors.json");
  const std::string text = sstest::slurp(path);
  ASSERT_FALSE(text.empty()) << path
                             << " is missing (tests/reference/make_dequant_refs.py makes it)";
  const auto j = nlohmann::json::parse(text);
  size_t checked = 0;
  for (const auto& v : j) {
    std::string name = v.at("type").get<std::string>();
    for (char& c : name) c = char(std::tolower(c));
    const DTypeTraits* t = ss::traits_of_name(name);
    ASSERT_NE(t, nullptr) << name;
    const int64_t n = v.at("rows").get<int64_t>() * v.at("cols").get<int64_t>();
    const auto blocks = unhex(v.at("blocks_hex").get<std::string>());
    const auto want = unhex(v.at("values_f32_hex").get<std::string>());
    ASSERT_EQ(blocks.size(), t->bytes(n)) << name;
    ASSERT_EQ(want.size(), size_t(n) * 4) << name;
    for (int64_t tg : targets()) {
      hwy::SetSupportedTargetsForTest(tg);
      std::vector<float> got(n);
      t->dequantize(blocks.data(), got.data(), n);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size()), 0)
          << name << " " << hwy::TargetName(tg);
    }
    hwy::SetSupportedTargetsForTest(0);
    ++checked;
  }
  EXPECT_EQ(checked, quant_types().size());
}

}  // namespace
