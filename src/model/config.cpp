#include "model/config.h"

#include "core/error.h"

namespace ss {

bool normalises(AttnOp op) { return op != AttnOp::Sigmoid && op != AttnOp::Elu1; }

int sliding_window_pattern_of(const std::vector<bool>& local) {
  const int n = int(local.size());
  for (int p = 0; p <= n; ++p) {
    bool fits = true;
    for (int l = 0; l < n && fits; ++l) fits = local[l] == (p == 0 || (l + 1) % p != 0);
    if (fits) return p;
  }
  return -1;
}

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
  check(sliding_window_pattern >= 0 && sliding_window_pattern <= n_layers,
        "model config: sliding_window_pattern (", sliding_window_pattern, ") must be in 0..",
        n_layers, " (the layer count)");
  check(!sandwich_norm || !parallel_residual,
        "model config: sandwich norms with parallel residuals are not supported");
  check(rope_theta_local >= 0 && embed_scale > 0 && query_scale >= 0 && attn_softcap >= 0 &&
            final_softcap >= 0,
        "model config: rope_theta_local, embed_scale, query_scale and the soft-caps must not be "
        "negative");
  check(prefix_lm >= 0 && prefix_lm <= max_seq_len, "model config: prefix_lm (", prefix_lm,
        ") must be in 0..max_seq_len");
  check(sink_token_id < vocab_size, "model config: sink_token_id (", sink_token_id,
        ") is outside the vocabulary");
  check(!attn_logn_bias || attn_op == AttnOp::Sigmoid || attn_op == AttnOp::SigmoidNorm,
        "model config: the -log n bias is for the sigmoid ops");
  check(dim < (1 << 20) && hidden_dim < (1 << 20) && n_layers < 4096 && vocab_size < (1 << 24),
        "model config: sizes are implausibly large");
}

}  // namespace ss
