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
      q_sink(size_t(n) * c.q_dim()),
      k(size_t(n) * c.kv_dim()),
      v(size_t(n) * c.kv_dim()),
      att(size_t(n) * c.q_dim()),
      g(c.attn_gate ? size_t(n) * c.q_dim() : 0),
      gate(size_t(n) * c.hidden_dim),
      up(size_t(n) * c.hidden_dim),
      rows(n) {}

Tape::Tape(const ModelConfig& c, int n) : rows(n), layers(c.n_layers), grad_rows(n) {
  const size_t d = size_t(n) * c.dim, q = size_t(n) * c.q_dim(), kv = size_t(n) * c.kv_dim(),
               h = size_t(n) * c.hidden_dim;
  for (Layer& L : layers) {
    for (auto* b : {&L.n1_in, &L.a_in, &L.n2_in, &L.f_in}) b->resize(d);
    for (auto* b : {&L.q, &L.att}) b->resize(q);
    if (c.attn_gate) L.g.resize(q), L.o_in.resize(q);  // else o_in is att
    for (auto* b : {&L.gate, &L.up, &L.h}) b->resize(h);
  }
  for (auto* b : {&xf_in, &xf, &dx, &dy, &dt}) b->resize(d);
  for (auto* b : {&datt, &dq}) b->resize(q);
  for (auto* b : {&dk, &dv}) b->resize(kv);
  for (auto* b : {&dg, &dh, &du}) b->resize(std::max(h, q));
}

float* GradBuffer::of(const void* param) const {
  const float* p = static_cast<const float*>(param);
  check(p >= params && p < params + n, "backward: a parameter is not in the training buffer");
  return grads + (p - params);
}

const float* Model::widen(const Tensor& t) {
  if (t.dtype == DType::F32) return static_cast<const float*>(t.data);  // trainable in place
  std::vector<float>& w = owned_.emplace_back(t.numel());
  dequantize_row(t, 0, w.data());
  return w.data();
}

void Model::bind(const ParamSpec& s, const Tensor& t) {
  Layer* L = s.layer >= 0 ? &layers_[s.layer] : nullptr;
  auto norm = [&](Norm& n) { (s.bias ? n.b : n.g) = widen(t); };
  auto linear = [&](Linear& l) {
    if (s.bias)
      l.b = widen(t);
    else
      l.w = &t;
  };
  switch (s.part) {
    case ParamPart::Embed:
      embed_ = &t;
      break;
    case ParamPart::Positions:
      positions_ = &t;
      break;
    case ParamPart::EmbedNorm:
      norm(embed_norm_);
      break;
    case ParamPart::AttnNorm:
      norm(L->attn_norm);
      break;
    case ParamPart::QNorm:
      norm(L->q_norm);
      break;
    case ParamPart::KNorm:
      norm(L->k_norm);
      break;
    case ParamPart::AttnOutNorm:
      norm(L->attn_out_norm);
      break;
    case ParamPart::Q:
      linear(L->q);
      break;
    case ParamPart::K:
      linear(L->k);
      break;
    case ParamPart::V:
      linear(L->v);
      break;
    case ParamPart::O:
      linear(L->o);
      break;
    case ParamPart::Gate:
      linear(L->g);
      break;
    case ParamPart::Sinks:
      L->sinks = widen(t);
      break;
    case ParamPart::KvBiasK:
      L->kv_bias_k = widen(t);
      break;
    case ParamPart::KvBiasV:
      L->kv_bias_v = widen(t);
      break;
    case ParamPart::FfnNorm:
      norm(L->ffn_norm);
      break;
    case ParamPart::FfnGate:
      linear(L->gate);
      break;
    case ParamPart::FfnUp:
      linear(L->up);
      break;
    case ParamPart::FfnDown:
      linear(L->down);
      break;
    case ParamPart::FfnOutNorm:
      norm(L->ffn_out_norm);
      break;
    case ParamPart::FinalNorm:
      norm(final_norm_);
      break;
    case ParamPart::LmHead:
      lm_head_ = &t;
      break;
  }
}

Model::Model(Checkpoint ckpt) : ckpt_(std::move(ckpt)) {
  const ModelConfig& c = ckpt_.config;
  try {
    c.validate();
    layers_.resize(c.n_layers);
    for (const ParamSpec& s : model_schema(c)) {
      if (s.optional && !ckpt_.tensors.find(s.name)) continue;
      bind(s, ckpt_.tensors.get(s.name, s.shape));
    }
    if (c.tied_embeddings) lm_head_ = embed_;
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

AttentionParams Model::attention_params(const Layer& L) const {
  const ModelConfig& c = config();
  AttentionParams ap{c.n_heads, c.n_kv_heads, c.head_dim};
  ap.scale = c.query_scale;
  ap.softcap = c.attn_softcap;
  ap.alibi_slopes = alibi_.empty() ? nullptr : alibi_.data();
  ap.alibi_scale = c.alibi_scaled ? 1.0f / std::sqrt(float(c.head_dim)) : 1.0f;
  ap.sink_logits = L.sinks;
  ap.op = c.attn_op;
  ap.logn_bias = c.attn_logn_bias;
  ap.kv_bias_k = L.kv_bias_k;
  ap.kv_bias_v = L.kv_bias_v;
  return ap;
}

KvStep Model::masked_step(const KvRing& ring, bool local, int64_t t) const {
  const ModelConfig& c = config();
  KvStep s = ring.step(t);
  if (t < c.prefix_lm) {  // the prefix sees all of itself, in slots 0..p-1
    s.segments[0] = {0, c.prefix_lm, false};
    s.n_segments = 1;
    s.kept = c.prefix_lm;
  } else if (local && s.kept > c.sliding_window) {
    // A ring that holds more than the window (a dense cache shared by every
    // layer): only text positions t-w+1..t. Cache order is text order, so
    // that drops slots from the front: sinks first, then the oldest of the ring.
    const int64_t from = t + 1 - c.sliding_window;
    const int sinks = s.segments[0].sink ? s.segments[0].count : 0;
    const int visible = int(std::max<int64_t>(0, sinks - std::max<int64_t>(0, from))) +
                        std::min(s.kept - sinks, c.sliding_window);
    int drop = s.kept - visible, out = 0;
    for (int g = 0; g < s.n_segments; ++g) {
      KvSegment seg = s.segments[g];
      const int d = std::min(drop, seg.count);
      seg.first_slot += d;
      seg.count -= d;
      drop -= d;
      if (seg.count > 0) s.segments[out++] = seg;
    }
    s.n_segments = out;
    s.kept = visible;
  }
  return s;
}

void Model::plan_views(Workspace& ws, std::span<const Sequence> seqs) const {
  const ModelConfig& c = config();
  const KvCache& first = *seqs[0].cache;
  for (const Sequence& s : seqs) {
    check(s.cache->n_layers() == c.n_layers, "forward: a cache of ", s.cache->n_layers(),
          " layers for a model of ", c.n_layers);
    for (int l = 0; l < c.n_layers; ++l)
      check(s.cache->kind(l) == first.kind(l), "forward: the sequences' caches differ in layout");
  }
  size_t n = 0;
  ws.view_of.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const int kind = first.kind(l);
    const bool local = c.local_layer(l);
    const double theta = c.layer_rope_theta(l);
    size_t v = 0;
    while (v < n &&
           !(ws.views[v].kind == kind && ws.views[v].local == local && ws.views[v].theta == theta))
      ++v;
    ws.view_of[l] = int(v);
    if (v < n) continue;
    if (ws.views.size() <= v) ws.views.emplace_back();
    LayerView& view = ws.views[v];
    view.kind = kind;
    view.local = local;
    view.theta = theta;
    ++n;
    view.steps.resize(ws.max_tokens);
    const bool rope = c.position == PositionKind::Rope;
    if (rope) view.win.resize(ws.max_tokens), view.sink.resize(ws.max_tokens);
    int row = 0;
    for (const Sequence& seq : seqs) {
      const int64_t t0 = seq.cache->n_seen();
      for (int i = 0; i < seq.T; ++i, ++row) {
        KvStep& s = view.steps[row];
        s = masked_step(seq.cache->kinds()[kind], local, t0 + i);
        if (!rope) continue;
        rope_angles(s.window_pos, c.rot_dim(), theta, view.win[row]);
        if (s.sink_pos != s.window_pos) rope_angles(s.sink_pos, c.rot_dim(), theta, view.sink[row]);
      }
    }
  }
}

void Model::forward(Backend& be, Workspace& ws, std::span<const Sequence> seqs, float* logits,
                    bool all_logits) const {
  const ModelConfig& c = config();
  const int d = c.dim, hd = c.head_dim, kvd = c.kv_dim(), qd = c.q_dim();
  const bool rope = c.position == PositionKind::Rope;
  check(!seqs.empty(), "forward: no sequences");
  check(seqs.size() == 1 || (!ws.hook && !ws.probe),
        "forward: the attention hook and the activation probe take one sequence");
  int T = 0;  // rows: the tokens of every sequence, stacked
  for (const Sequence& s : seqs) {
    check(s.T > 0, "forward: a sequence of ", s.T, " tokens");
    T += s.T;
  }
  check(T <= ws.max_tokens, "forward: ", T, " tokens for a workspace of ", ws.max_tokens);
  Tape* tape = ws.tape;
  check(!tape || (T <= tape->rows && all_logits && logits), "forward: a tape records ",
        "whole samples from position 0 with all logits");
  for (const Sequence& s : seqs) {
    s.cache->reserve(s.T);
    const int64_t t0 = s.cache->n_seen();
    check(!tape || t0 == 0, "forward: a tape records whole samples from position 0");
    // A prefix-LM prefix attends forwards, so it arrives whole and stays in slots 0..p-1.
    check(
        c.prefix_lm <= t0 || (t0 == 0 && s.T >= c.prefix_lm && s.cache->capacity() >= c.prefix_lm),
        "a prefix-LM model takes its first ", c.prefix_lm,
        " tokens in one call, into a cache of at least as many slots");
    for (int i = 0; i < s.T; ++i) {
      check(s.tokens[i] >= 0 && s.tokens[i] < c.vocab_size, "token id ", s.tokens[i],
            " is outside the vocabulary (", c.vocab_size, ")");
      check(!positions_ || t0 + i < c.max_seq_len, "position ", t0 + i,
            " is past the model's learned position table (", c.max_seq_len, ")");
    }
  }
  plan_views(ws, seqs);
  for (int row = 0; const Sequence& s : seqs) {
    const int64_t t0 = s.cache->n_seen();
    for (int i = 0; i < s.T; ++i, ++row) {
      float* x = ws.x.data() + size_t(row) * d;
      dequantize_row(*embed_, s.tokens[i], x);
      if (c.embed_scale != 1)
        for (int j = 0; j < d; ++j) x[j] *= c.embed_scale;
      if (positions_) {
        dequantize_row(*positions_, t0 + i, ws.xb.data());
        for (int j = 0; j < d; ++j) x[j] += ws.xb[j];
      }
    }
  }
  if (embed_norm_.g) {
    apply_norm(be, embed_norm_, ws.x.data(), ws.xb.data(), T);
    std::copy_n(ws.xb.begin(), size_t(T) * d, ws.x.begin());
  }
  if (ws.hook && ws.probs.size() < size_t(c.n_heads) * seqs[0].cache->max_capacity())
    ws.probs.resize(size_t(c.n_heads) * seqs[0].cache->max_capacity());
  const size_t Td = size_t(T) * d, Tq = size_t(T) * qd;
  auto save = [](const std::vector<float>& from, size_t n, std::vector<float>& to) {
    std::copy_n(from.begin(), n, to.begin());
  };

  for (int l = 0; l < c.n_layers; ++l) {
    const Layer& L = layers_[l];
    Tape::Layer* tl = tape ? &tape->layers[l] : nullptr;
    const AttentionParams ap = attention_params(L);
    const LayerView& view = ws.views[ws.view_of[l]];
    const std::vector<KvStep>& steps = view.steps;
    // What backward reads is written straight into the tape when one records
    // this call, else into the workspace.
    float* const q_rows = tl ? tl->q.data() : ws.q.data();
    float* const att = tl ? tl->att.data() : ws.att.data();
    float* const gate_in = tl ? tl->g.data() : ws.g.data();
    // Attention input: norm(x) (pre-norm) or x itself (post-norm).
    float* a_in = c.post_norm ? ws.x.data() : tl ? tl->a_in.data() : ws.xb.data();
    if (!c.post_norm) {
      if (tl) save(ws.x, Td, tl->n1_in);
      apply_norm(be, L.attn_norm, ws.x.data(), a_in, T);
    } else if (tl) {
      save(ws.x, Td, tl->a_in);  // x changes in place below
    }
    if (c.qk_norm) {  // each head's query and key, through ws.att (free until attention)
      apply_linear(be, L.q, a_in, ws.att.data(), T);
      be.norm(c.norm, ws.att.data(), L.q_norm.g, L.q_norm.b, q_rows, T * c.n_heads, hd, c.norm_eps);
      apply_linear(be, L.k, a_in, ws.att.data(), T);
      be.norm(c.norm, ws.att.data(), L.k_norm.g, L.k_norm.b, ws.k.data(), T * c.n_kv_heads, hd,
              c.norm_eps);
    } else {
      apply_linear(be, L.q, a_in, q_rows, T);
      apply_linear(be, L.k, a_in, ws.k.data(), T);
    }
    apply_linear(be, L.v, a_in, ws.v.data(), T);
    if (L.g.w) apply_linear(be, L.g, a_in, gate_in, T);
    if (c.clip_qkv > 0) {
      for (auto [buf, n] : {std::pair{q_rows, qd}, {ws.k.data(), kvd}, {ws.v.data(), kvd}})
        for (float* f = buf; f < buf + size_t(T) * n; ++f)
          *f = std::clamp(*f, -c.clip_qkv, c.clip_qkv);
    }
    // Attention, sequence by sequence: rows o..o+s.T over s's cache.
    for (int o = 0; const Sequence& seq : seqs) {
      KvCache& cache = *seq.cache;
      const KvRing& ring = cache.ring_of(l);
      const int cap = ring.capacity();
      const int64_t t0 = cache.n_seen();
      const int prefix = int(std::clamp<int64_t>(c.prefix_lm - t0, 0, seq.T));
      float* K = cache.k(l);
      float* V = cache.v(l);
      // Rotates row r's query and key and writes its key and value to its slot.
      auto write = [&](int r) {
        const KvStep& s = steps[r];
        float* q = q_rows + size_t(r) * qd;
        float* k = ws.k.data() + size_t(r) * kvd;
        if (rope) {
          if (s.sink_pos != s.window_pos) {
            std::memcpy(ws.q_sink.data() + size_t(r) * qd, q, sizeof(float) * qd);
            be.rope(ws.q_sink.data() + size_t(r) * qd, c.n_heads, hd, c.rot_dim(), c.rope_layout,
                    view.sink[r]);
          }
          be.rope(q, c.n_heads, hd, c.rot_dim(), c.rope_layout, view.win[r]);
          be.rope(k, c.n_kv_heads, hd, c.rot_dim(), c.rope_layout, view.win[r]);
        }
        const int slot = ring.slot(t0 + (r - o));
        for (int h = 0; h < c.n_kv_heads; ++h) {
          const size_t dst = (size_t(h) * cap + slot) * hd;
          std::memcpy(K + dst, k + h * hd, sizeof(float) * hd);
          std::memcpy(V + dst, ws.v.data() + size_t(r) * kvd + h * hd, sizeof(float) * hd);
        }
      };
      auto row = [&](int r) {
        const KvStep& s = steps[r];
        const float* q = q_rows + size_t(r) * qd;
        const float* q_sink =
            rope && s.sink_pos != s.window_pos ? ws.q_sink.data() + size_t(r) * qd : q;
        return AttentionRow{
            q, q_sink, {K, V, cap, s.segments.data(), s.n_segments, s.kept}, att + size_t(r) * qd};
      };
      for (int i = 0; i < prefix; ++i) write(o + i);
      if (!ws.hook && t0 + seq.T <= cap) {
        // Nothing is evicted within the chunk: write every key, then attend
        // with all rows at once.
        for (int i = prefix; i < seq.T; ++i) write(o + i);
        for (int i = 0; i < seq.T; ++i) ws.rows[o + i] = row(o + i);
        be.attention(ws.rows.data() + o, seq.T, ap, nullptr);
      } else {
        // Token by token: write its keys, then attend. A later token of the
        // chunk may evict a slot an earlier one still needed.
        for (int i = 0; i < seq.T; ++i) {
          if (i >= prefix) write(o + i);
          const AttentionRow r = row(o + i);
          float* probs = ws.hook ? ws.probs.data() : nullptr;
          be.attention(&r, 1, ap, probs);
          if (probs) ws.hook(l, t0 + i, steps[o + i], probs);
        }
      }
      o += seq.T;
    }
    float* o_in = att;
    if (L.g.w) {  // gated attention: att * sigmoid(g), beside att on a tape
      if (tl) o_in = tl->o_in.data();
      for (size_t i = 0; i < Tq; ++i) o_in[i] = att[i] / (1.0f + std::exp(-gate_in[i]));
    }
    apply_linear(be, L.o, o_in, ws.xb.data(), T);
    if (L.attn_out_norm.g) {
      apply_norm(be, L.attn_out_norm, ws.xb.data(), ws.xb2.data(), T);
      std::copy_n(ws.xb2.begin(), Td, ws.xb.begin());
    }

    // FFN input: the residual stream after attention, or (parallel) before it.
    if (!c.parallel_residual)
      for (size_t i = 0; i < Td; ++i) ws.x[i] += ws.xb[i];
    float* f_in = ws.xb2.data();
    if (c.post_norm) {  // x = norm1(x + attn(x)); the FFN reads x
      if (tl) save(ws.x, Td, tl->n1_in);
      apply_norm(be, L.attn_norm, ws.x.data(), f_in, T);
      std::copy_n(ws.xb2.begin(), Td, ws.x.begin());
      if (tl) save(ws.xb2, Td, tl->f_in);
    } else {
      if (tl) save(ws.x, Td, tl->n2_in), f_in = tl->f_in.data();
      apply_norm(be, L.ffn_norm.g ? L.ffn_norm : L.attn_norm, ws.x.data(), f_in, T);
    }
    // h = act(gate) * up (or act(up) without a gate): in place unless on a tape.
    float* gate = tl ? tl->gate.data() : ws.gate.data();
    float* up = !L.gate.w ? nullptr : tl ? tl->up.data() : ws.up.data();
    float* h = tl ? tl->h.data() : gate;
    apply_linear(be, L.gate.w ? L.gate : L.up, f_in, gate, T);
    if (up) apply_linear(be, L.up, f_in, up, T);
    be.activation(c.act, gate, up, h, int64_t(T) * c.hidden_dim);
    apply_linear(be, L.down, h, ws.xb2.data(), T);
    if (L.ffn_out_norm.g) {
      apply_norm(be, L.ffn_out_norm, ws.xb2.data(), ws.xb.data(), T);
      std::copy_n(ws.xb.begin(), Td, ws.xb2.begin());
    }
    for (size_t i = 0; i < Td; ++i) ws.x[i] += ws.xb2[i] + (c.parallel_residual ? ws.xb[i] : 0.0f);
    if (c.post_norm) {  // x = norm2(x + ffn(x))
      if (tl) save(ws.x, Td, tl->n2_in);
      apply_norm(be, L.ffn_norm, ws.x.data(), ws.xb2.data(), T);
      std::copy_n(ws.xb2.begin(), Td, ws.x.begin());
    }
    if (ws.probe)
      ws.probe(l, seqs[0].cache->n_seen(), T, {ws.x.data(), q_rows, ws.k.data(), ws.v.data()});
  }
  for (const Sequence& s : seqs) s.cache->advance(s.T);
  if (!logits) return;

  // The final norm over the rows that get logits: all, or each sequence's last.
  int rows = T;
  float* xf = ws.xb.data();
  if (all_logits) {
    if (tape) save(ws.x, Td, tape->xf_in), xf = tape->xf.data();
    apply_norm(be, final_norm_, ws.x.data(), xf, T);
  } else {
    rows = 0;
    for (int last = -1; const Sequence& s : seqs) {
      last += s.T;
      apply_norm(be, final_norm_, ws.x.data() + size_t(last) * d, ws.xb.data() + size_t(rows++) * d,
                 1);
    }
  }
  be.matmul(*lm_head_, xf, logits, rows);
  if (const float cap = c.final_softcap; cap > 0)
    for (float* z = logits; z < logits + size_t(rows) * c.vocab_size; ++z)
      *z = cap * std::tanh(*z / cap);
}

void Model::backward(Backend& be, Workspace& ws, std::span<const Sequence> seqs,
                     const float* dlogits, const GradBuffer& g) const {
  const ModelConfig& c = config();
  Tape* tape = ws.tape;
  int T = 0;
  for (const Sequence& s : seqs) {
    check(s.cache->n_seen() == s.T, "backward: no tape of this forward call");
    for (int l = 0; l < c.n_layers; ++l)
      check(!s.cache->ring_of(l).evict && s.cache->capacity(l) >= s.T, "backward: layer ", l,
            "'s cache does not hold the whole sample");
    T += s.T;
  }
  check(tape && T <= tape->rows, "backward: no tape of this forward call");
  check(!c.parallel_residual && c.clip_qkv == 0 && !embed_norm_.g && !c.qk_norm &&
            !c.sandwich_norm && c.attn_softcap == 0 && c.final_softcap == 0,
        "backward: parallel residuals, clip_qkv, embedding norms, QK-norm, sandwich norms and ",
        "soft-capping are inference-only");
  const int d = c.dim, hd = c.head_dim, kvd = c.kv_dim(), qd = c.q_dim();
  const size_t Td = size_t(T) * d;
  const bool rope = c.position == PositionKind::Rope;
  Tape& tp = *tape;
  auto norm_bwd = [&](const Norm& n, const float* x, const float* dy, float* dx) {
    be.norm_backward(c.norm, x, n.g, dy, dx, g.of(n.g), n.b ? g.of(n.b) : nullptr, T, d,
                     c.norm_eps);
  };
  // dx = dy W (or dx += when accumulate) and the weight's and bias's gradients.
  auto linear_bwd = [&](const Linear& l, const float* x, const float* dy, float* dx,
                        bool accumulate) {
    const int out = int(l.w->rows());
    be.matmul_backward(*l.w, x, dy, dx, g.of(l.w->data), T, accumulate);
    if (l.b) {
      float* db = g.of(l.b);
      for (int t = 0; t < T; ++t)
        for (int o = 0; o < out; ++o) db[o] += dy[size_t(t) * out + o];
    }
  };
  float* dx = tp.dx.data();  // gradient of the residual stream
  float* dy = tp.dy.data();

  // Logits = lm_head(norm(x)).
  be.matmul_backward(*lm_head_, tp.xf.data(), dlogits, dy, g.of(lm_head_->data), T, false);
  norm_bwd(final_norm_, tp.xf_in.data(), dy, dx);

  for (int l = c.n_layers - 1; l >= 0; --l) {
    const Layer& L = layers_[l];
    const Tape::Layer& tl = tp.layers[l];
    const AttentionParams ap = attention_params(L);
    const LayerView& view = ws.views[ws.view_of[l]];
    // FFN block: from the gradient of its output, adds the gradient of its input to dfin.
    auto ffn_bwd = [&](const float* dout, float* dfin) {
      const int64_t n = int64_t(T) * c.hidden_dim;
      linear_bwd(L.down, tl.h.data(), dout, tp.dh.data(), false);
      if (L.gate.w) {
        be.activation_backward(c.act, tl.gate.data(), tl.up.data(), tp.dh.data(), tp.dg.data(),
                               tp.du.data(), n);
        linear_bwd(L.gate, tl.f_in.data(), tp.dg.data(), dfin, true);
        linear_bwd(L.up, tl.f_in.data(), tp.du.data(), dfin, true);
      } else {
        be.activation_backward(c.act, tl.gate.data(), nullptr, tp.dh.data(), tp.dg.data(), nullptr,
                               n);
        linear_bwd(L.up, tl.f_in.data(), tp.dg.data(), dfin, true);
      }
    };
    // Attention block: likewise.
    auto attn_bwd = [&](const float* dout, float* dain) {
      float* datt = tp.datt.data();
      linear_bwd(L.o, L.g.w ? tl.o_in.data() : tl.att.data(), dout, datt, false);
      if (L.g.w) {  // o_in = att * sigmoid(g)
        float* dgate = tp.dg.data();
        for (size_t i = 0; i < size_t(T) * qd; ++i) {
          const float s = 1.0f / (1.0f + std::exp(-tl.g[i]));
          dgate[i] = datt[i] * tl.att[i] * s * (1 - s);
          datt[i] *= s;
        }
        linear_bwd(L.g, tl.a_in.data(), dgate, dain, true);
      }
      float* dsink = L.sinks ? g.of(L.sinks) : nullptr;
      float* dkb_k = L.kv_bias_k ? g.of(L.kv_bias_k) : nullptr;
      float* dkb_v = L.kv_bias_v ? g.of(L.kv_bias_v) : nullptr;
      // Sample by sample: its rows o..o+s.T over its cache.
      for (int o = 0; const Sequence& seq : seqs) {
        const KvCache& cache = *seq.cache;
        const int cap = cache.capacity(l);
        tp.dK.assign(size_t(cap) * kvd, 0.0f);
        tp.dV.assign(size_t(cap) * kvd, 0.0f);
        for (int r = o; r < o + seq.T; ++r) {
          const KvStep& s = view.steps[r];
          tp.grad_rows[r] = {tl.q.data() + size_t(r) * qd,
                             {cache.k(l), cache.v(l), cap, s.segments.data(), s.n_segments, s.kept},
                             datt + size_t(r) * qd,
                             tp.dq.data() + size_t(r) * qd};
        }
        be.attention_backward(tp.grad_rows.data() + o, seq.T, ap, tp.dK.data(), tp.dV.data(), dsink,
                              dkb_k, dkb_v);
        // Cache layout [kv head][slot][hd] back to tokens; rotations undone.
        for (int i = 0; i < seq.T; ++i) {
          const int r = o + i;
          for (int h = 0; h < c.n_kv_heads; ++h) {
            const size_t at = (size_t(h) * cap + i) * hd;
            std::copy_n(tp.dK.begin() + at, hd, tp.dk.begin() + size_t(r) * kvd + h * hd);
            std::copy_n(tp.dV.begin() + at, hd, tp.dv.begin() + size_t(r) * kvd + h * hd);
          }
          if (rope) {
            be.rope(tp.dq.data() + size_t(r) * qd, c.n_heads, hd, c.rot_dim(), c.rope_layout,
                    view.win[r], true);
            be.rope(tp.dk.data() + size_t(r) * kvd, c.n_kv_heads, hd, c.rot_dim(), c.rope_layout,
                    view.win[r], true);
          }
        }
        o += seq.T;
      }
      linear_bwd(L.q, tl.a_in.data(), tp.dq.data(), dain, true);
      linear_bwd(L.k, tl.a_in.data(), tp.dk.data(), dain, true);
      linear_bwd(L.v, tl.a_in.data(), tp.dv.data(), dain, true);
    };

    if (!c.post_norm) {
      // x1 = x + attn(norm1(x)); out = x1 + ffn(norm2(x1)).
      std::fill_n(dy, Td, 0.0f);
      ffn_bwd(dx, dy);
      norm_bwd(L.ffn_norm, tl.n2_in.data(), dy, tp.dt.data());
      for (size_t i = 0; i < Td; ++i) dx[i] += tp.dt[i];
      std::fill_n(dy, Td, 0.0f);
      attn_bwd(dx, dy);
      norm_bwd(L.attn_norm, tl.n1_in.data(), dy, tp.dt.data());
      for (size_t i = 0; i < Td; ++i) dx[i] += tp.dt[i];
    } else {
      // x1 = norm1(x + attn(x)); out = norm2(x1 + ffn(x1)).
      norm_bwd(L.ffn_norm, tl.n2_in.data(), dx, dy);
      std::copy_n(dy, Td, dx);
      ffn_bwd(dy, dx);
      norm_bwd(L.attn_norm, tl.n1_in.data(), dx, dy);
      std::copy_n(dy, Td, dx);
      attn_bwd(dy, dx);
    }
  }
  float* demb = g.of(embed_->data);
  float* dpos = positions_ ? g.of(positions_->data) : nullptr;
  for (int r = 0; const Sequence& s : seqs)
    for (int i = 0; i < s.T; ++i, ++r)
      for (int j = 0; j < d; ++j) {
        demb[size_t(s.tokens[i]) * d + j] += c.embed_scale * dx[size_t(r) * d + j];
        if (dpos) dpos[size_t(i) * d + j] += dx[size_t(r) * d + j];
      }
}

}  // namespace ss
