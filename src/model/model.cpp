#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace ss {

Workspace::Workspace(const ModelConfig& c, int n)
    : max_tokens(n),
      x(size_t(n) * c.dim),
      xb(size_t(n) * c.dim),
      xb2(size_t(n) * c.dim),
      q(size_t(n) * c.q_dim()),
      q_sink(size_t(c.q_dim())),
      k(size_t(n) * c.kv_dim()),
      v(size_t(n) * c.kv_dim()),
      att(size_t(n) * c.q_dim()),
      gate(size_t(n) * c.hidden_dim),
      up(size_t(n) * c.hidden_dim),
      steps(n),
      win(n),
      sink(n) {}

const float* Model::vec(const std::string& name, int64_t n, bool required) {
  const TensorStore& ts = ckpt_.tensors;
  if (!required && !ts.find(name)) return nullptr;
  const Tensor& t = ts.get(name, {n});
  std::vector<float>& w = owned_.emplace_back(n);
  dequantize_row(t, 0, w.data());
  return w.data();
}

Model::Norm Model::norm(const std::string& name, bool required) {
  Norm n;
  n.g = vec(name + ".weight", ckpt_.config.dim, required);
  if (n.g && ckpt_.config.norm == NormKind::LayerNorm)
    n.b = vec(name + ".bias", ckpt_.config.dim, false);
  return n;
}

Model::Linear Model::linear(const std::string& name, int64_t out, int64_t in, bool required) {
  Linear l;
  if (!required && !ckpt_.tensors.find(name + ".weight")) return l;
  l.w = &ckpt_.tensors.get(name + ".weight", {out, in});
  l.b = vec(name + ".bias", out, false);
  return l;
}

Model::Model(Checkpoint ckpt) : ckpt_(std::move(ckpt)) {
  const ModelConfig& c = ckpt_.config;
  try {
    c.validate();
    const int64_t d = c.dim, qd = c.q_dim(), kvd = c.kv_dim();
    const TensorStore& ts = ckpt_.tensors;
    embed_ = &ts.get("model.embed_tokens.weight", {c.vocab_size, d});
    if (c.position == PositionKind::Learned)
      positions_ = &ts.get("model.embed_positions.weight", {c.max_seq_len, d});
    embed_norm_ = norm("model.embed_norm", false);
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      Layer L;
      L.attn_norm = norm(p + "input_layernorm", true);
      L.ffn_norm = norm(p + "post_attention_layernorm", !c.parallel_residual);
      L.q = linear(p + "self_attn.q_proj", qd, d);
      L.k = linear(p + "self_attn.k_proj", kvd, d);
      L.v = linear(p + "self_attn.v_proj", kvd, d);
      L.o = linear(p + "self_attn.o_proj", d, qd);
      L.sinks = vec(p + "self_attn.sinks", c.n_heads, false);
      L.gate = linear(p + "mlp.gate_proj", c.hidden_dim, d, c.gated_ffn);
      L.up = linear(p + "mlp.up_proj", c.hidden_dim, d);
      L.down = linear(p + "mlp.down_proj", d, c.hidden_dim);
      layers_.push_back(L);
    }
    final_norm_ = norm("model.norm", true);
    lm_head_ = c.tied_embeddings ? embed_ : &ts.get("lm_head.weight", {c.vocab_size, d});
  } catch (const Error& e) {
    fail(ckpt_.path.empty() ? ckpt_.format : ckpt_.path, ": ", e.what());
  }
  if (c.position == PositionKind::Alibi) {
    alibi_.resize(c.n_heads);
    alibi_slopes(c.n_heads, c.alibi_bias_max, alibi_.data());
  }
}

std::shared_ptr<const Model> Model::load(const std::string& path) {
  return std::make_shared<const Model>(load_checkpoint(path));
}

int64_t Model::n_params() const {
  int64_t n = 0;
  for (auto& [name, t] : ckpt_.tensors.tensors) n += t.numel();
  return n;
}

void Model::apply_norm(Backend& be, const Norm& n, const float* x, float* y, int T) const {
  const ModelConfig& c = config();
  be.norm(c.norm, x, n.g, n.b, y, T, c.dim, c.norm_eps);
}

void Model::apply_linear(Backend& be, const Linear& l, const float* x, float* y, int T) const {
  be.matmul(*l.w, x, y, T);
  if (l.b) be.add_bias(y, l.b, T, int(l.w->rows()));
}

void Model::forward(Backend& be, Workspace& ws, KvCache& cache, const int* tokens, int T,
                    float* logits, bool all_logits) const {
  const ModelConfig& c = config();
  const int d = c.dim, hd = c.head_dim, kvd = c.kv_dim(), qd = c.q_dim();
  const bool rope = c.position == PositionKind::Rope;
  check(T > 0 && T <= ws.max_tokens, "forward: ", T, " tokens for a workspace of ", ws.max_tokens);
  cache.reserve(T);
  const int64_t t0 = cache.n_seen();

  // Per token: which slots it sees, and the angles of its one or two query rotations.
  std::vector<KvStep>& steps = ws.steps;
  for (int i = 0; i < T; ++i) {
    steps[i] = cache.step(t0 + i);
    if (!rope) continue;
    rope_angles(steps[i].window_pos, c.rot_dim(), c.rope_theta, ws.win[i]);
    if (steps[i].sink_pos != steps[i].window_pos)
      rope_angles(steps[i].sink_pos, c.rot_dim(), c.rope_theta, ws.sink[i]);
  }
  for (int i = 0; i < T; ++i) {
    check(tokens[i] >= 0 && tokens[i] < c.vocab_size, "token id ", tokens[i],
          " is outside the vocabulary (", c.vocab_size, ")");
    check(!positions_ || t0 + i < c.max_seq_len, "position ", t0 + i,
          " is past the model's learned position table (", c.max_seq_len, ")");
  }
  for (int i = 0; i < T; ++i) {
    float* x = ws.x.data() + size_t(i) * d;
    dequantize_row(*embed_, tokens[i], x);
    if (positions_) {
      dequantize_row(*positions_, t0 + i, ws.xb.data());
      for (int j = 0; j < d; ++j) x[j] += ws.xb[j];
    }
  }
  if (embed_norm_.g) {
    apply_norm(be, embed_norm_, ws.x.data(), ws.xb.data(), T);
    std::copy_n(ws.xb.begin(), size_t(T) * d, ws.x.begin());
  }
  if (ws.hook && ws.probs.size() < size_t(c.n_heads) * cache.capacity())
    ws.probs.resize(size_t(c.n_heads) * cache.capacity());

  for (int l = 0; l < c.n_layers; ++l) {
    const Layer& L = layers_[l];
    const AttentionParams ap{c.n_heads,
                             c.n_kv_heads,
                             hd,
                             alibi_.empty() ? nullptr : alibi_.data(),
                             c.alibi_scaled ? 1.0f / std::sqrt(float(hd)) : 1.0f,
                             L.sinks};
    apply_norm(be, L.attn_norm, ws.x.data(), ws.xb.data(), T);
    apply_linear(be, L.q, ws.xb.data(), ws.q.data(), T);
    apply_linear(be, L.k, ws.xb.data(), ws.k.data(), T);
    apply_linear(be, L.v, ws.xb.data(), ws.v.data(), T);
    if (c.clip_qkv > 0) {
      for (auto [buf, n] : {std::pair{ws.q.data(), qd}, {ws.k.data(), kvd}, {ws.v.data(), kvd}})
        for (float* f = buf; f < buf + size_t(T) * n; ++f)
          *f = std::clamp(*f, -c.clip_qkv, c.clip_qkv);
    }
    float* K = cache.k(l);
    float* V = cache.v(l);
    // Token by token: write its keys, then attend. A later token of the chunk
    // may evict a slot an earlier one still needed, so the order matters.
    for (int i = 0; i < T; ++i) {
      const KvStep& s = steps[i];
      float* q = ws.q.data() + size_t(i) * qd;
      float* k = ws.k.data() + size_t(i) * kvd;
      const float* q_sink = q;
      if (rope) {
        if (s.sink_pos != s.window_pos) {
          std::memcpy(ws.q_sink.data(), q, sizeof(float) * qd);
          be.rope(ws.q_sink.data(), c.n_heads, hd, c.rot_dim(), c.rope_layout, ws.sink[i]);
          q_sink = ws.q_sink.data();
        }
        be.rope(q, c.n_heads, hd, c.rot_dim(), c.rope_layout, ws.win[i]);
        be.rope(k, c.n_kv_heads, hd, c.rot_dim(), c.rope_layout, ws.win[i]);
      }
      const int slot = cache.slot(t0 + i);
      for (int h = 0; h < c.n_kv_heads; ++h) {
        const size_t dst = (size_t(h) * cache.capacity() + slot) * hd;
        std::memcpy(K + dst, k + h * hd, sizeof(float) * hd);
        std::memcpy(V + dst, ws.v.data() + size_t(i) * kvd + h * hd, sizeof(float) * hd);
      }
      KvView view{K, V, cache.capacity(), s.segments.data(), s.n_segments, s.kept};
      float* probs = ws.hook ? ws.probs.data() : nullptr;
      be.attention(q, q_sink, view, ap, ws.att.data() + size_t(i) * qd, probs);
      if (probs) ws.hook(l, t0 + i, s, probs);
    }
    apply_linear(be, L.o, ws.att.data(), ws.xb.data(), T);

    // FFN input: the residual stream after attention, or (parallel) before it.
    if (!c.parallel_residual)
      for (size_t i = 0; i < size_t(T) * d; ++i) ws.x[i] += ws.xb[i];
    apply_norm(be, L.ffn_norm.g ? L.ffn_norm : L.attn_norm, ws.x.data(), ws.xb2.data(), T);
    float* h = ws.gate.data();
    if (L.gate.w) {
      apply_linear(be, L.gate, ws.xb2.data(), h, T);
      apply_linear(be, L.up, ws.xb2.data(), ws.up.data(), T);
      be.activation(c.act, h, ws.up.data(), int64_t(T) * c.hidden_dim);
    } else {
      apply_linear(be, L.up, ws.xb2.data(), h, T);
      be.activation(c.act, h, nullptr, int64_t(T) * c.hidden_dim);
    }
    apply_linear(be, L.down, h, ws.xb2.data(), T);
    for (size_t i = 0; i < size_t(T) * d; ++i)
      ws.x[i] += ws.xb2[i] + (c.parallel_residual ? ws.xb[i] : 0.0f);
    if (ws.probe) ws.probe(l, t0, T, {ws.x.data(), ws.q.data(), ws.k.data(), ws.v.data()});
  }
  cache.advance(T);
  if (!logits) return;

  const int first = all_logits ? 0 : T - 1;
  const int rows = T - first;
  apply_norm(be, final_norm_, ws.x.data() + size_t(first) * d, ws.xb.data(), rows);
  be.matmul(*lm_head_, ws.xb.data(), logits, rows);
}

}  // namespace ss
