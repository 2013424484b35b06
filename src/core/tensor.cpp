#include "core/tensor.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace ss {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::F16:
      return "f16";
    case DType::BF16:
      return "bf16";
    case DType::Q8_0:
      return "q8_0";
  }
  return "?";
}

size_t dtype_bytes(DType t, int64_t n) {
  switch (t) {
    case DType::F32:
      return size_t(n) * 4;
    case DType::F16:
    case DType::BF16:
      return size_t(n) * 2;
    case DType::Q8_0:
      return size_t(n / kQ8Block) * sizeof(BlockQ8_0);
  }
  return 0;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string Tensor::shape_str() const {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << ']';
  return os.str();
}

float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
uint16_t f32_to_f16(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 64);  // quiet NaN
  u += 0x7fff + ((u >> 16) & 1);                                       // round to nearest even
  return uint16_t(u >> 16);
}

void dequantize_row(const Tensor& t, int64_t r, float* out) {
  const int64_t n = t.cols();
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out, static_cast<const float*>(t.data) + r * n, n * 4);
      break;
    case DType::F16: {
      auto* p = static_cast<const uint16_t*>(t.data) + r * n;
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(p[i]);
      break;
    }
    case DType::BF16: {
      auto* p = static_cast<const uint16_t*>(t.data) + r * n;
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(p[i]);
      break;
    }
    case DType::Q8_0: {
      auto* b = static_cast<const BlockQ8_0*>(t.data) + r * (n / kQ8Block);
      for (int64_t j = 0; j < n / kQ8Block; ++j) {
        float d = f16_to_f32(b[j].scale);
        for (int i = 0; i < kQ8Block; ++i) out[j * kQ8Block + i] = d * b[j].q[i];
      }
      break;
    }
  }
}

void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out) {
  for (int64_t j = 0; j < n / kQ8Block; ++j, x += kQ8Block) {
    float amax = 0;
    for (int i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::abs(x[i]));
    const float d = amax / 127.0f, inv = d > 0 ? 1.0f / d : 0.0f;
    out[j].scale = f32_to_f16(d);
    for (int i = 0; i < kQ8Block; ++i) out[j].q[i] = int8_t(std::lround(x[i] * inv));
  }
}

const Tensor* TensorStore::find(const std::string& name) const {
  for (auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const Tensor& TensorStore::get(const std::string& name, const std::vector<int64_t>& shape) const {
  const Tensor* t = find(name);
  check(t != nullptr, "missing tensor ", name);
  Tensor want;
  want.shape = shape;
  check(t->shape == shape, "tensor ", name, ": shape ", t->shape_str(), ", expected ",
        want.shape_str());
  return *t;
}

}  // namespace ss
