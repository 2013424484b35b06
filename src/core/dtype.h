// Weight types as one table. Every type a tensor can have is one row of
// traits: its ggml id, block size and bytes, and three kernels (row
// dequantisation, the decode dot product, and a writer where we have one).
// The kernels of a quantised type live in one file, src/quant/<type>.cpp;
// nothing else in the code branches on the type.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ss {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  IQ4_NL,
};

// An activation row quantised once per matmul for the integer dot products
// of the quantised types (as llama.cpp's Q8_0/Q8_K): blocks of 32 int8 values
// q = round(x / d) with d = max|x| / 127 per block, plus the sum of q over
// every 16 values (for the types whose weights carry an offset or a minimum),
// as int16 and times d.
struct QuantRow {
  static constexpr int kBlock = 32;
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int16_t> sum16;
  std::vector<float> dsum16;  // d of the block * sum16
  // n must be a multiple of kBlock.
  void quantize(const float* x, int64_t n);
};

struct DTypeTraits {
  DType type;
  const char* name;  // as llama.cpp spells it in lower case: "q4_k"
  uint32_t ggml;     // ggml_type id in GGUF files
  int block;         // values per block (1 for the float types)
  int block_bytes;
  // n values (a multiple of block) from their blocks to f32, with the exact
  // f32 arithmetic of gguf-py's numpy dequantizers (bit for bit).
  void (*dequantize)(const void* w, float* out, int64_t n);
  // Dot product of one row of n weights with an activation row: the float
  // types read x, the quantised types read xq (x quantised by QuantRow).
  float (*dot)(const void* w, const float* x, const QuantRow* xq, int64_t n);
  // n values to blocks, or nullptr where sinkstream does not write the type.
  void (*quantize)(const float* x, void* w, int64_t n);

  bool quantized() const { return block > 1; }
  size_t bytes(int64_t n) const { return size_t(n / block) * size_t(block_bytes); }
};

const DTypeTraits& traits(DType t);
// nullptr when the type is not one sinkstream reads.
const DTypeTraits* traits_of_ggml(uint32_t ggml);
const DTypeTraits* traits_of_name(std::string_view name);
// The names of every type (or of those sinkstream writes), comma-separated,
// for error messages.
std::string dtype_names(bool writable_only = false);
// Every row of the table, in DType order.
const std::vector<DTypeTraits>& all_dtypes();

inline const char* dtype_name(DType t) { return traits(t).name; }
// Bytes for n elements (n a multiple of the type's block).
inline size_t dtype_bytes(DType t, int64_t n) { return traits(t).bytes(n); }

// The SIMD target that every run-time dispatched kernel (the weight types'
// dots and dequantisation, ops/simd.h) chose for this CPU: "AVX3_DL"
// (AVX-512 VNNI), "AVX3", "AVX2", "SSE4", "SSSE3", "NEON", "SVE", "SCALAR"...
const char* simd_target();
// The targets this binary has and this CPU runs, best first, in lower case
// and comma-separated ("avx3_dl, avx3, avx2, sse4, ssse3, scalar").
std::string simd_targets();
// Dispatch no better than target `name` (one of simd_targets(), any case);
// an ss::Error otherwise. SINKSTREAM_SIMD=name in the environment does this
// at start-up (a bad name: one line on stderr, exit status 2).
void limit_simd_target(std::string_view name);

// The f32 reference for a dot product: the row dequantised, then a plain
// float sum (tests and benchmarks compare the integer kernels with it).
float dot_reference(DType t, const void* w, const float* x, int64_t n);

}  // namespace ss
