// Read-only views of weight tensors. Storage belongs to whoever loaded the
// checkpoint (a memory map or an owned buffer); a Tensor only points into it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace ss {

struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;

  int64_t numel() const;
  int64_t rows() const { return shape.size() < 2 ? 1 : shape[0]; }  // 1-D: one row
  int64_t cols() const;  // the product of the other dimensions (0 rows need not mean 0 cols)
  size_t nbytes() const { return dtype_bytes(dtype, numel()); }
  std::string shape_str() const;
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
// The bytes of row r.
const void* row_data(const Tensor& t, int64_t r);
// n floats (a multiple of the type's block) written as type t; a one-line
// Error for a type sinkstream does not write.
void quantize_row(DType t, const float* x, int64_t n, void* out);

// A named set of tensors plus whatever keeps their bytes alive.
struct TensorStore {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::shared_ptr<const void>> owners;

  const Tensor* find(const std::string& name) const;
  // The tensor, or a one-line Error naming it when missing or mis-shaped.
  const Tensor& get(const std::string& name, const std::vector<int64_t>& shape) const;
};

}  // namespace ss
