#include "core/dtype.h"

#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "quant/quant.h"

namespace ss {

namespace {
using namespace quant;
const std::vector<DTypeTraits> kTypes = {
    // type, name, ggml id, block, bytes, dequantize, dot, quantize
    {DType::F32, "f32", 0, 1, 4, dequantize_f32, dot_f32, quantize_f32},
    {DType::F16, "f16", 1, 1, 2, dequantize_f16, dot_f16, quantize_f16},
    {DType::BF16, "bf16", 30, 1, 2, dequantize_bf16, dot_bf16, quantize_bf16},
    {DType::Q4_0, "q4_0", 2, 32, 18, dequantize_q4_0, dot_q4_0, quantize_q4_0},
    {DType::Q4_1, "q4_1", 3, 32, 20, dequantize_q4_1, dot_q4_1, quantize_q4_1},
    {DType::Q5_0, "q5_0", 6, 32, 22, dequantize_q5_0, dot_q5_0, quantize_q5_0},
    {DType::Q5_1, "q5_1", 7, 32, 24, dequantize_q5_1, dot_q5_1, quantize_q5_1},
    {DType::Q8_0, "q8_0", 8, 32, 34, dequantize_q8_0, dot_q8_0, quantize_q8_0},
    {DType::Q2_K, "q2_k", 10, 256, 84, dequantize_q2_k, dot_q2_k, nullptr},
    {DType::Q3_K, "q3_k", 11, 256, 110, dequantize_q3_k, dot_q3_k, nullptr},
    {DType::Q4_K, "q4_k", 12, 256, 144, dequantize_q4_k, dot_q4_k, nullptr},
    {DType::Q5_K, "q5_k", 13, 256, 176, dequantize_q5_k, dot_q5_k, nullptr},
    {DType::Q6_K, "q6_k", 14, 256, 210, dequantize_q6_k, dot_q6_k, nullptr},
    {DType::IQ4_NL, "iq4_nl", 20, 32, 18, dequantize_iq4_nl, dot_iq4_nl, nullptr},
};

// SINKSTREAM_SIMD limits the kernels' target before main (see dtype.h).
[[maybe_unused]] const bool kSimdFromEnv = [] {
  const char* name = std::getenv("SINKSTREAM_SIMD");
  if (!name || !*name) return false;
  try {
    limit_simd_target(name);
  } catch (const Error& e) {
    std::fprintf(stderr, "sinkstream: error: SINKSTREAM_SIMD: %s\n", e.what());
    std::exit(2);
  }
  return true;
}();
}  // namespace

const std::vector<DTypeTraits>& all_dtypes() { return kTypes; }

const DTypeTraits& traits(DType t) { return kTypes[size_t(t)]; }

const DTypeTraits* traits_of_ggml(uint32_t ggml) {
  for (const DTypeTraits& t : kTypes)
    if (t.ggml == ggml) return &t;
  return nullptr;
}

const DTypeTraits* traits_of_name(std::string_view name) {
  for (const DTypeTraits& t : kTypes)
    if (name == t.name) return &t;
  return nullptr;
}

std::string dtype_names(bool writable_only) {
  std::string s;
  for (const DTypeTraits& t : kTypes)
    if (t.quantize || !writable_only) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

float dot_reference(DType t, const void* w, const float* x, int64_t n) {
  std::vector<float> row(static_cast<size_t>(n));
  traits(t).dequantize(w, row.data(), n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(row[size_t(i)]) * x[i];
  return float(s);
}

}  // namespace ss
