// Everything the forward pass needs to know about a model's shape and maths.
// Readers of every checkpoint format fill one of these; nothing else in the
// engine looks at file formats. Each family's quirks are switches here.
#pragma once
#include <cmath>
#include <string>
#include <vector>

namespace ss {

// How RoPE pairs the dimensions of a head.
enum class RopeLayout {
  Interleaved,  // (2i, 2i+1): llama2.c, GGUF
  RotateHalf,   // (i, i + r/2) over the first r rotary dims: Hugging Face
};

// How a token's position enters attention.
enum class PositionKind {
  Rope,     // rotary on q and k
  Alibi,    // a linear bias -slope_h * distance on the scores
  Learned,  // an absolute position embedding added to the input (GPT-2)
  None,     // NoPE
};

enum class NormKind { RMSNorm, LayerNorm };

// What turns a query's scores into attention weights (Gu et al. section 6).
enum class AttnOp {
  Softmax,      // exp(s) / sum exp(s)
  Softmax1,     // exp(s) / (1 + sum exp(s)): a zero logit that attends nothing
  Sigmoid,      // sigmoid(s), no normalisation
  SigmoidNorm,  // sigmoid(s) / sum sigmoid(s)
  Elu1,         // elu(s) + 1, no normalisation (linear attention)
  Elu1Norm,     // (elu(s) + 1) / sum (elu(s) + 1)
};
bool normalises(AttnOp op);
enum class Activation { SiLU, GELU, GELUTanh, ReLU };

// The names of AttnOp, NormKind, Activation and PositionKind values in config
// files, options and messages, each list in enum order (core/names.h looks
// them up).
inline constexpr const char* kAttnOpNames[] = {"softmax",      "softmax1", "sigmoid",
                                               "sigmoid_norm", "elu1",     "elu1_norm"};
inline const char* attn_op_name(AttnOp op) { return kAttnOpNames[int(op)]; }
inline constexpr const char* kNormNames[] = {"rmsnorm", "layernorm"};
inline constexpr const char* kActivationNames[] = {"silu", "gelu", "gelu_tanh", "relu"};
inline constexpr const char* kPositionNames[] = {"rope", "alibi", "learned", "none"};

struct ModelConfig {
  std::string family = "llama";  // model_type
  int dim = 0;                   // hidden size
  int hidden_dim = 0;            // FFN inner size
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  int max_seq_len = 0;  // training context (and the learned position table)
  float norm_eps = 1e-5f;
  NormKind norm = NormKind::RMSNorm;
  Activation act = Activation::SiLU;
  bool gated_ffn = true;           // act(gate) * up (SwiGLU); else act(up)
  bool parallel_residual = false;  // x + attn(n1(x)) + ffn(n2(x)) (NeoX, Falcon)
  PositionKind position = PositionKind::Rope;
  double rope_theta = 10000.0;
  RopeLayout rope_layout = RopeLayout::RotateHalf;
  int rotary_dim = 0;         // rotated dims per head (partial rotary); 0: head_dim
  float clip_qkv = 0;         // clamp q, k, v to +-clip_qkv (MPT); 0: off
  float alibi_bias_max = 8;   // ALiBi slopes 2^(-max*h/n) (MPT's alibi_bias_max)
  bool alibi_scaled = false;  // ALiBi bias also divided by sqrt(head_dim) (Falcon)
  // Local (sliding-window) layers attend the last sliding_window tokens, the
  // current one included (Mistral: every layer; Gemma 3: all but every 6th).
  int sliding_window = 0;          // 0: no local layers
  int sliding_window_pattern = 0;  // every n-th layer (n-1, 2n-1, ...) is global; 0: all local
  double rope_theta_local = 0;     // RoPE base of the local layers; 0: rope_theta
  bool qk_norm = false;            // RMSNorm on each head's query and key, before RoPE (Gemma 3)
  bool sandwich_norm = false;      // also norms on the attention and FFN outputs (Gemma 2 and 3)
  float embed_scale = 1;           // the token embedding is multiplied by this (Gemma: sqrt(dim))
  float query_scale = 0;           // query-key scale; 0: 1/sqrt(head_dim)
  float attn_softcap = 0;          // scores -> cap * tanh(scores / cap); 0: off (Gemma 2)
  float final_softcap = 0;         // logits -> cap * tanh(logits / cap); 0: off (Gemma 2)
  AttnOp attn_op = AttnOp::Softmax;
  bool attn_logn_bias = false;  // sigmoid ops: scores - log(number of keys seen)
  bool attn_gate = false;       // attention output * sigmoid(x W_g) (gated attention)
  bool kv_bias = false;         // a learned key/value slot every query sees (Gu et al.)
  bool sink_logits = false;     // per-head learned sink logits (gpt-oss; also found by tensor)
  bool post_norm = false;       // x = norm(x + block(x)) instead of x + block(norm(x))
  int prefix_lm = 0;            // the first p tokens attend each other both ways; 0: causal
  int sink_token_id = -1;       // a learned sink token that starts every stream; -1: none
  bool tied_embeddings = true;
  int bos_id = 1;
  int eos_id = 2;

  int kv_dim() const { return n_kv_heads * head_dim; }
  int q_dim() const { return n_heads * head_dim; }
  int rot_dim() const { return rotary_dim > 0 ? rotary_dim : head_dim; }
  float attn_scale() const {
    return query_scale > 0 ? query_scale : 1 / std::sqrt(float(head_dim));
  }
  bool local_layer(int l) const {
    return sliding_window > 0 &&
           (sliding_window_pattern <= 0 || (l + 1) % sliding_window_pattern != 0);
  }
  std::vector<bool> local_layers() const {
    std::vector<bool> v(n_layers);
    for (int l = 0; l < n_layers; ++l) v[l] = local_layer(l);
    return v;
  }
  double layer_rope_theta(int l) const {
    return local_layer(l) && rope_theta_local > 0 ? rope_theta_local : rope_theta;
  }
  // Tokens every stream starts with before the user's: the sink token.
  friend int lead_tokens(const ModelConfig& c) { return c.sink_token_id >= 0 ? 1 : 0; }
  // Checks the numbers are usable; throws a one-line ss::Error otherwise.
  void validate() const;
};

// The sliding_window_pattern that makes exactly the layers flagged local
// local (0: all of them), or -1 when no pattern does (HF's layer_types and
// GGUF's per-layer sliding_window_pattern are lists).
int sliding_window_pattern_of(const std::vector<bool>& local);

}  // namespace ss
