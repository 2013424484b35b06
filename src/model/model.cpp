#include "model/model.h"

#include <cstring>

#include "core/error.h"

namespace ss {

Workspace::Workspace(const ModelConfig& c, int n)
    : max_tokens(n),
      x(size_t(n) * c.dim),
      xb(size_t(n) * c.dim),
      q(size_t(n) * c.dim),
      q_sink(size_t(c.n_heads) * c.head_dim),
      k(size_t(n) * c.kv_dim()),
      v(size_t(n) * c.kv_dim()),
      att(size_t(n) * c.n_heads * c.head_dim),
      gate(size_t(n) * c.hidden_dim),
      up(size_t(n) * c.hidden_dim),
      steps(n),
      win(n),
      sink(n) {}

Model::Model(Checkpoint ckpt) : ckpt_(std::move(ckpt)) {
  const ModelConfig& c = ckpt_.config;
  c.validate();
  const TensorStore& ts = ckpt_.tensors;
  const int64_t d = c.dim, qd = int64_t(c.n_heads) * c.head_dim, kvd = c.kv_dim();
  auto norm = [&](const std::string& name) {
    const Tensor& t = ts.get(name, {d});
    std::vector<float> w(d);
    dequantize_row(t, 0, w.data());
    norms_.push_back(std::move(w));
    return norms_.back().data();
  };
  norms_.reserve(2 * c.n_layers + 1);
  embed_ = &ts.get("model.embed_tokens.weight", {c.vocab_size, d});
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    Layer L;
    L.attn_norm = norm(p + "input_layernorm.weight");
    L.ffn_norm = norm(p + "post_attention_layernorm.weight");
    L.wq = &ts.get(p + "self_attn.q_proj.weight", {qd, d});
    L.wk = &ts.get(p + "self_attn.k_proj.weight", {kvd, d});
    L.wv = &ts.get(p + "self_attn.v_proj.weight", {kvd, d});
    L.wo = &ts.get(p + "self_attn.o_proj.weight", {d, qd});
    L.gate = &ts.get(p + "mlp.gate_proj.weight", {c.hidden_dim, d});
    L.up = &ts.get(p + "mlp.up_proj.weight", {c.hidden_dim, d});
    L.down = &ts.get(p + "mlp.down_proj.weight", {d, c.hidden_dim});
    layers_.push_back(L);
  }
  final_norm_ = norm("model.norm.weight");
  lm_head_ = c.tied_embeddings ? embed_ : &ts.get("lm_head.weight", {c.vocab_size, d});
}

std::shared_ptr<const Model> Model::load(const std::string& path) {
  return std::make_shared<const Model>(load_checkpoint(path));
}

int64_t Model::n_params() const {
  int64_t n = 0;
  for (auto& [name, t] : ckpt_.tensors.tensors) n += t.numel();
  return n;
}

void Model::forward(Backend& be, Workspace& ws, KvCache& cache, const int* tokens, int T,
                    float* logits, bool all_logits) const {
  const ModelConfig& c = config();
  const int d = c.dim, hd = c.head_dim, kvd = c.kv_dim(), H = c.n_heads, Hkv = c.n_kv_heads;
  const int qd = H * hd;
  check(T > 0 && T <= ws.max_tokens, "forward: ", T, " tokens for a workspace of ", ws.max_tokens);
  cache.reserve(T);
  const int64_t t0 = cache.n_seen();

  // Per token: which slots it sees, and the angles of its one or two query rotations.
  std::vector<KvStep>& steps = ws.steps;
  std::vector<RopeAngles>&win = ws.win, &sink = ws.sink;
  for (int i = 0; i < T; ++i) {
    steps[i] = cache.step(t0 + i);
    rope_angles(steps[i].window_pos, hd, c.rope_theta, win[i]);
    if (steps[i].sink_pos != steps[i].window_pos)
      rope_angles(steps[i].sink_pos, hd, c.rope_theta, sink[i]);
  }
  for (int i = 0; i < T; ++i) {
    check(tokens[i] >= 0 && tokens[i] < c.vocab_size, "token id ", tokens[i],
          " is outside the vocabulary (", c.vocab_size, ")");
    dequantize_row(*embed_, tokens[i], ws.x.data() + size_t(i) * d);
  }
  if (ws.hook && ws.probs.size() < size_t(H) * cache.capacity())
    ws.probs.resize(size_t(H) * cache.capacity());

  for (int l = 0; l < c.n_layers; ++l) {
    const Layer& L = layers_[l];
    be.rmsnorm(ws.x.data(), L.attn_norm, ws.xb.data(), T, d, c.norm_eps);
    be.matmul(*L.wq, ws.xb.data(), ws.q.data(), T);
    be.matmul(*L.wk, ws.xb.data(), ws.k.data(), T);
    be.matmul(*L.wv, ws.xb.data(), ws.v.data(), T);
    float* K = cache.k(l);
    float* V = cache.v(l);
    // Token by token: write its keys, then attend. A later token of the chunk
    // may evict a slot an earlier one still needed, so the order matters.
    for (int i = 0; i < T; ++i) {
      const KvStep& s = steps[i];
      float* q = ws.q.data() + size_t(i) * qd;
      float* k = ws.k.data() + size_t(i) * kvd;
      const float* q_sink = q;
      if (s.sink_pos != s.window_pos) {
        std::memcpy(ws.q_sink.data(), q, sizeof(float) * qd);
        be.rope(ws.q_sink.data(), H, hd, c.rope_layout, sink[i]);
        q_sink = ws.q_sink.data();
      }
      be.rope(q, H, hd, c.rope_layout, win[i]);
      be.rope(k, Hkv, hd, c.rope_layout, win[i]);
      const int slot = cache.slot(t0 + i);
      for (int h = 0; h < Hkv; ++h) {
        const size_t dst = (size_t(h) * cache.capacity() + slot) * hd;
        std::memcpy(K + dst, k + h * hd, sizeof(float) * hd);
        std::memcpy(V + dst, ws.v.data() + size_t(i) * kvd + h * hd, sizeof(float) * hd);
      }
      KvView view{K, V, cache.capacity(), s.segments.data(), s.n_segments, s.kept};
      float* probs = ws.hook ? ws.probs.data() : nullptr;
      be.attention(q, q_sink, view, H, Hkv, hd, ws.att.data() + size_t(i) * qd, probs);
      if (probs) ws.hook(l, t0 + i, s, probs);
    }
    be.matmul(*L.wo, ws.att.data(), ws.xb.data(), T);
    for (size_t i = 0; i < size_t(T) * d; ++i) ws.x[i] += ws.xb[i];

    be.rmsnorm(ws.x.data(), L.ffn_norm, ws.xb.data(), T, d, c.norm_eps);
    be.matmul(*L.gate, ws.xb.data(), ws.gate.data(), T);
    be.matmul(*L.up, ws.xb.data(), ws.up.data(), T);
    be.swiglu(ws.gate.data(), ws.up.data(), int64_t(T) * c.hidden_dim);
    be.matmul(*L.down, ws.gate.data(), ws.xb.data(), T);
    for (size_t i = 0; i < size_t(T) * d; ++i) ws.x[i] += ws.xb[i];
  }
  cache.advance(T);
  if (!logits) return;

  const int first = all_logits ? 0 : T - 1;
  const int rows = T - first;
  be.rmsnorm(ws.x.data() + size_t(first) * d, final_norm_, ws.xb.data(), rows, d, c.norm_eps);
  be.matmul(*lm_head_, ws.xb.data(), logits, rows);
}

}  // namespace ss
