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
  check(rotary_dim >= 0 && rotary_dim <= head_dim && rotary_dim % 2 == 0,
        "model config: rotary_dim (", rotary_dim, ") must be even and at most head_dim (", head_dim,
        ")");
  check(max_seq_len > 0, "model config: max_seq_len must be positive");
  check(rope_theta > 0, "model config: rope_theta must be positive");
  check(norm_eps > 0, "model config: norm eps must be positive");
  check(clip_qkv >= 0 && alibi_bias_max > 0 && sliding_window >= 0,
        "model config: clip_qkv, alibi_bias_max and sliding_window must not be negative");
  check(dim < (1 << 20) && hidden_dim < (1 << 20) && n_layers < 4096 && vocab_size < (1 << 24),
        "model config: sizes are implausibly large");
}

}  // namespace ss
