#include "model/config.h"

#include "core/error.h"

namespace ss {

void ModelConfig::validate() const {
  check(dim > 0 && hidden_dim > 0 && n_layers > 0 && n_heads > 0 && vocab_size > 0,
        "model config: dim, hidden_dim, n_layers, n_heads and vocab_size must be positive");
  check(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "model config: n_heads (", n_heads,
        ") is not a multiple of n_kv_heads (", n_kv_heads, ")");
  check(head_dim > 0 && head_dim % 2 == 0 && head_dim <= 512, "model config: head_dim (", head_dim,
        ") must be even and in 2..512");
  check(max_seq_len > 0, "model config: max_seq_len must be positive");
  check(rope_theta > 0, "model config: rope_theta must be positive");
  check(dim < (1 << 20) && hidden_dim < (1 << 20) && n_layers < 4096 && vocab_size < (1 << 24),
        "model config: sizes are implausibly large");
}

}  // namespace ss
