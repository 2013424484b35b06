// Everything the forward pass needs to know about a model's shape and maths.
// Readers of every checkpoint format fill one of these; nothing else in the
// engine looks at file formats.
#pragma once
#include <string>

namespace ss {

// How RoPE pairs the dimensions of a head.
enum class RopeLayout {
  Interleaved,  // (2i, 2i+1): llama2.c, GGUF
  RotateHalf,   // (i, i + d/2): Hugging Face
};

struct ModelConfig {
  std::string family = "llama";  // model_type
  int dim = 0;                   // hidden size
  int hidden_dim = 0;            // FFN inner size
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  int max_seq_len = 0;  // training context
  float norm_eps = 1e-5f;
  double rope_theta = 10000.0;
  RopeLayout rope_layout = RopeLayout::RotateHalf;
  bool tied_embeddings = true;
  int bos_id = 1;
  int eos_id = 2;

  int kv_dim() const { return n_kv_heads * head_dim; }
  // Checks the numbers are usable; throws a one-line ss::Error otherwise.
  void validate() const;
};

}  // namespace ss
