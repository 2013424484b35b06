// Read-only views of weight tensors. Storage belongs to whoever loaded the
// checkpoint (a memory map or an owned buffer); a Tensor only points into it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ss {

enum class DType { F32, F16, BF16, Q8_0 };

const char* dtype_name(DType t);
// Bytes for n elements (n must be a multiple of the block size for Q8_0).
size_t dtype_bytes(DType t, int64_t n);

struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;

  int64_t numel() const;
  int64_t rows() const { return shape.size() < 2 ? 1 : shape[0]; }  // 1-D: one row
  int64_t cols() const { return numel() / rows(); }
  size_t nbytes() const { return dtype_bytes(dtype, numel()); }
  std::string shape_str() const;
};

// Q8_0 block layout (GGUF): one f16 scale then 32 int8 values.
inline constexpr int kQ8Block = 32;
struct BlockQ8_0 {
  uint16_t scale;
  int8_t q[kQ8Block];
};

// f16/bf16 scalar conversions.
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
uint16_t f32_to_bf16(float f);

// Row r of a 2-D tensor dequantised to f32.
void dequantize_row(const Tensor& t, int64_t r, float* out);
// n floats (a multiple of kQ8Block) to Q8_0 blocks: per block, scale =
// max|x|/127 and q = round(x/scale). Error per value <= scale/2.
void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out);

// A named set of tensors plus whatever keeps their bytes alive.
struct TensorStore {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::shared_ptr<const void>> owners;

  const Tensor* find(const std::string& name) const;
  // The tensor, or a one-line Error naming it when missing or mis-shaped.
  const Tensor& get(const std::string& name, const std::vector<int64_t>& shape) const;
};

}  // namespace ss
