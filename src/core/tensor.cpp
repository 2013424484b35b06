#include "core/tensor.h"

#include <immintrin.h>

#include <cstring>
#include <sstream>

#include "core/error.h"

namespace ss {

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
