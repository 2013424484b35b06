#include "core/tensor.h"

#include <cstring>
#include <sstream>

#include "core/error.h"

namespace ss {

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t Tensor::cols() const {
  int64_t n = 1;
  for (size_t i = shape.size() < 2 ? 0 : 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

std::string Tensor::shape_str() const {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << ']';
  return os.str();
}

// IEEE half <-> single in portable code (the SIMD kernels convert with
// their target's instructions), as F16C does: exact widening, rounding to
// nearest even, NaNs quietened with their payload kept.
float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = 0x7f800000 | (mant ? 0x400000 | mant << 13 : 0);
  } else if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float
    const float f = float(mant) * 0x1p-24f;
    std::memcpy(&u, &f, 4);
  } else {
    u = (exp + 112) << 23 | mant << 13;
  }
  u |= sign;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const auto sign = uint16_t((u >> 16) & 0x8000);
  u &= 0x7fffffff;
  if (u > 0x7f800000) return uint16_t(sign | 0x7e00 | ((u >> 13) & 0x3ff));  // NaN
  if (u >= 0x477ff000) return uint16_t(sign | 0x7c00);  // rounds past 65504: infinity
  if (u < 0x38800000) {  // below 2^-14: subnormal; the float addition rounds to even
    float a;
    std::memcpy(&a, &u, 4);
    a += 0.5f;
    std::memcpy(&u, &a, 4);
    return uint16_t(sign | (u - 0x3f000000));
  }
  u += 0xc8000fff + ((u >> 13) & 1);  // rebias the exponent, round to nearest even
  return uint16_t(sign | (u >> 13));
}

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 64);  // quiet NaN
  u += 0x7fff + ((u >> 16) & 1);                                       // round to nearest even
  return uint16_t(u >> 16);
}

const void* row_data(const Tensor& t, int64_t r) {
  return static_cast<const uint8_t*>(t.data) + traits(t.dtype).bytes(t.cols()) * size_t(r);
}

void dequantize_row(const Tensor& t, int64_t r, float* out) {
  traits(t.dtype).dequantize(row_data(t, r), out, t.cols());
}

void quantize_row(DType t, const float* x, int64_t n, void* out) {
  const DTypeTraits& tr = traits(t);
  check(tr.quantize != nullptr, "cannot write ", tr.name, " weights (writable: ", dtype_names(true),
        ")");
  check(n % tr.block == 0, tr.name, ": rows of ", n, " values are not whole blocks of ", tr.block);
  tr.quantize(x, out, n);
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
