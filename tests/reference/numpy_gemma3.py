#!/usr/bin/env python3
"""A third, plain-numpy evaluation of Gemma 3 270M (gemma3 arch, Q4_K_M file), float64.

Neither llama.cpp nor sinkstream: the weights are dequantized by gguf-py
(gguf.quants.dequantize, exact), the forward pass is written out below in
float64 from the GGUF's metadata, and the tokens are the ids llama.cpp gave in
gemma3_austen512.json / gemma3_austen2000.json. It tells how far llama.cpp's
own numerics sit from the exact model, so that a comparison of another engine
against llama.cpp can say which part of a difference is whose.

    python3 tests/reference/numpy_gemma3.py            # 512, then 2000 tokens
    python3 tests/reference/numpy_gemma3.py 512        # only gemma3_austen512_f64.json
    python3 tests/reference/numpy_gemma3.py --exact 2000   # skip the emulated pass
    python3 tests/reference/numpy_gemma3.py --split 512    # also each emulated effect alone
    python3 tests/reference/numpy_gemma3.py --greedy       # gemma3_greedy_f64.json only

Output gemma3_austen{512,2000}_f64.json: {"source", "model", "model_sha256",
"mean_nll", "ids": [N], "nll": [N-1], "top1": [N-1], "top1_margin": [N-1],
"vs_llamacpp": {...}, "emulated_mean_nll"} with nll, top1 and top1_margin defined as in
gemma3_austen512.json, for the exact float64 model, and a summary of the
differences from llama.cpp's file with the same N, for the exact model
("exact vs ...") and, unless --exact, for a second pass that emulates
llama.cpp's CPU numerics ("emulated vs ..."):
  - every matmul input rounded through the 8-bit activation blocks llama.cpp
    quantizes it to for that weight's type: Q8_0 (32 wide, d = amax/127 kept
    as f16, q = round(x * 127/amax)) for the Q5_0 and Q8_0 weights (q, k, v,
    gate, up, the Q8_0 output head), Q8_K (256 wide, d = max/-127 kept in
    f32, signed max) for the Q4_K / Q6_K weights (attn_output, ffn_down);
  - q, k, v and the softmax probabilities rounded to f16 (f16 KV cache, flash
    attention off: K.Q takes Q in f16, V.P takes P in f16);
  - GELU through ggml's f16 table (GGML_GELU_FP16): gelu(x) = f16(gelu(f16(x)))
    for -10 < x < 10, as ggml_vec_geglu_f32 does.
Everything else stays float64 in both passes. With --split, three more
passes apply each of those effects alone ("emulated[act]", "emulated[kv]",
"emulated[gelu]" vs the llama.cpp file and vs the exact model).

The model, as llama.cpp's gemma3 graph (src/models/gemma3.cpp) computes it:
  x = token_embd[id] * sqrt(n_embd)                       (n_embd = 640)
  per layer il (18):
    h = rmsnorm(x) * attn_norm
    q, k, v = h Wq^T, h Wk^T, h Wv^T       (4 query heads, 1 KV head, head dim 256)
    q = rmsnorm_per_head(q) * attn_q_norm;  k = rmsnorm_per_head(k) * attn_k_norm
    RoPE, NeoX layout: dims (i, i + 128) of each head rotated by
      pos * base^(-2i/256); base = 10000 for local (sliding-window) layers
      (llama.cpp's rope_freq_base_train_swa default; the file has no
      gemma3.rope.freq_base_swa) and gemma3.rope.freq_base = 1e6 for global
      layers. Local layers are all il with il % 6 != 5 (load_swa_pattern(6),
      the file has no gemma3.attention.sliding_window_pattern).
    q *= 1/sqrt(256)  (f_attention_scale: 1/sqrt(head dim) below 27B)
    o = softmax(q k^T + mask) v, causal; a local layer also masks keys with
      pos_q - pos_k >= 512 (gemma3.attention.sliding_window; llama.cpp's
      is_masked_swa, LLAMA_SWA_TYPE_STANDARD). At N = 512 the window never
      bites (pos_q - pos_k <= 511); at N = 2000 it does.
    x += rmsnorm(o Wo^T) * post_attention_norm
    h = rmsnorm(x) * ffn_norm
    x += rmsnorm((gelu_tanh(h Wg^T) * (h Wu^T)) Wd^T) * post_ffw_norm
  logits = (rmsnorm(x) * output_norm) token_embd^T   (tied; no final soft-capping
           in this file: gemma3.final_logit_softcapping is absent)
  rmsnorm(x) = x / sqrt(mean(x^2) + eps), eps = gemma3.attention.layer_norm_rms_epsilon
  gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
The GGUF's norm weights already include Gemma's "1 +" (llama.cpp's
convert_hf_to_gguf.py adds 1 to every Gemma 3 norm weight, and the gemma3
graph multiplies by them as they are), so they are used as they are here too.

Cost: the 262144-token output head dominates (2 x 640 x 262144 flops per
token); it is done in chunks of CHUNK positions so no N x 262144 logits array
is ever held.
"""
import hashlib
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGUFReader, GGMLQuantizationType as T

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "reference")
NAME = "gemma-3-270m-q4_k_m.gguf"
CHUNK = 128


def f16(a):
    return a.astype(np.float16).astype(np.float64)


def q8_0(a):
    """llama.cpp's Q8_0 activation round trip (x86 quantize_row_q8_0): 32-wide
    blocks, q = round_half_even(x * 127/amax), value = f16(amax/127) * q."""
    b = a.reshape(*a.shape[:-1], -1, 32)
    amax = np.abs(b).max(axis=-1, keepdims=True)
    q = np.round(np.divide(b * 127, amax, out=np.zeros_like(b), where=amax > 0))
    return (f16(amax / 127) * q).reshape(a.shape)


def q8_K(a):
    """quantize_row_q8_K_ref: 256-wide blocks, max = the signed value of largest
    |x|, iscale = -127/max, q = min(127, round(iscale * x)), value = q / iscale."""
    b = a.reshape(*a.shape[:-1], -1, 256)
    idx = np.abs(b).argmax(axis=-1)[..., None]
    mx = np.take_along_axis(b, idx, axis=-1)
    iscale = np.divide(-127.0, mx, out=np.zeros_like(mx), where=mx != 0)
    q = np.minimum(127, np.round(iscale * b))
    return (q * np.divide(1.0, iscale, out=np.zeros_like(iscale), where=iscale != 0)).reshape(a.shape)


def load():
    path = os.path.join(ROOT, "models", "cache", NAME)
    r = GGUFReader(path)
    meta = {k: f.contents() for k, f in r.fields.items() if k.startswith("gemma3.")}
    W, types = {}, {}
    for t in r.tensors:
        W[t.name] = gguf.quants.dequantize(t.data, T(t.tensor_type)).astype(np.float64)
        types[t.name] = T(t.tensor_type)
    return path, meta, W, types


def forward(ids, meta, W, types, emulate=(), last_only=False):
    """Returns nll[N-1], top1[N-1], top1_margin[N-1] for the token ids (with
    last_only, those of the last position alone: its top-1 is the greedy next
    token, and its nll that of a placeholder, meaningless); emulate
    names the llama.cpp roundings to apply: "act" (8-bit matmul inputs), "kv"
    (f16 q, k, v and softmax probabilities), "gelu" (ggml's f16 GELU table)."""
    n_layer = meta["gemma3.block_count"]
    n_head = meta["gemma3.attention.head_count"]
    n_kv = meta["gemma3.attention.head_count_kv"]
    dim = meta["gemma3.embedding_length"]
    hd = meta["gemma3.attention.key_length"]
    assert hd == meta["gemma3.attention.value_length"]
    eps = float(meta["gemma3.attention.layer_norm_rms_epsilon"])  # the f32 value, as llama.cpp
    base_global = float(meta["gemma3.rope.freq_base"])
    base_local = float(meta.get("gemma3.rope.freq_base_swa", 10000.0))
    n_swa = meta["gemma3.attention.sliding_window"]
    assert "gemma3.final_logit_softcapping" not in meta
    assert "gemma3.attention.sliding_window_pattern" not in meta
    n = len(ids)

    def rms(x, w):
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * w

    # RoPE tables, NeoX layout: dim i pairs with dim i + hd/2, angle pos * base^(-2i/hd).
    pos = np.arange(n, dtype=np.float64)[:, None]
    rot = {}
    for base in (base_local, base_global):
        ang = pos * base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)[None, :]
        rot[base] = (np.cos(ang)[:, None, :], np.sin(ang)[:, None, :])

    def rope(x, base):  # x: (n, heads, hd)
        cos, sin = rot[base]
        a, b = x[..., : hd // 2], x[..., hd // 2:]
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)

    dpos = pos - pos.T  # pos_q - pos_k
    mask_global = np.where(dpos >= 0, 0.0, -np.inf)
    mask_local = np.where((dpos >= 0) & (dpos < n_swa), 0.0, -np.inf)

    def act(a, wname):  # the activation rounding llama.cpp applies for this weight's type
        if "act" not in emulate:
            return a
        t = types[wname]
        if t in (T.Q4_K, T.Q6_K):
            return q8_K(a)
        assert t in (T.Q5_0, T.Q8_0), t
        return q8_0(a)

    def mm(a, wname):
        return act(a, wname) @ W[wname].T

    kv = f16 if "kv" in emulate else (lambda a: a)

    def gelu(g):
        y = 0.5 * g * (1 + np.tanh(np.sqrt(2 / np.pi) * (g + 0.044715 * g ** 3)))
        if "gelu" in emulate:  # ggml's GELU table is indexed by f16(x) and holds f16 values
            y = np.where(g <= -10, 0.0, np.where(g >= 10, g, f16(0.5 * f16(g) * (1 + np.tanh(
                np.sqrt(2 / np.pi) * (f16(g) + 0.044715 * f16(g) ** 3))))))
        return y

    x = W["token_embd.weight"][ids] * np.sqrt(dim)
    for il in range(n_layer):
        p = f"blk.{il}."
        local = il % 6 != 5
        base = base_local if local else base_global
        h = rms(x, W[p + "attn_norm.weight"])
        q = mm(h, p + "attn_q.weight").reshape(n, n_head, hd)
        k = mm(h, p + "attn_k.weight").reshape(n, n_kv, hd)
        v = mm(h, p + "attn_v.weight").reshape(n, n_kv, hd)
        q = rope(rms(q, W[p + "attn_q_norm.weight"]), base) / np.sqrt(hd)
        k = rope(rms(k, W[p + "attn_k_norm.weight"]), base)
        q, k, v = kv(q), kv(k), kv(v)  # (1/16 scaling is exact, so rounding after it is the same)
        mask = mask_local if local else mask_global
        o = np.empty((n, n_head, hd))
        g = n_head // n_kv
        for hh in range(n_head):
            sc = q[:, hh, :] @ k[:, hh // g, :].T + mask
            sc = np.exp(sc - sc.max(axis=1, keepdims=True))
            sc /= sc.sum(axis=1, keepdims=True)
            o[:, hh, :] = kv(sc) @ v[:, hh // g, :]
        x = x + rms(mm(o.reshape(n, n_head * hd), p + "attn_output.weight"), W[p + "post_attention_norm.weight"])
        h = rms(x, W[p + "ffn_norm.weight"])
        f = gelu(mm(h, p + "ffn_gate.weight")) * mm(h, p + "ffn_up.weight")
        x = x + rms(mm(f, p + "ffn_down.weight"), W[p + "post_ffw_norm.weight"])
    hn = act(rms(x, W["output_norm.weight"]), "token_embd.weight")
    emb = W["token_embd.weight"]
    nxt = np.array(ids[1:])
    nll, top1, margin = [], [], []
    for s in range(n - 2 if last_only else 0, n - 1, CHUNK):
        e = min(s + CHUNK, n - 1)
        logits = hn[s:e] @ emb.T
        mx = logits.max(axis=1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1))
        nll.append(lse - logits[np.arange(e - s), nxt[s:e]])
        top1.append(logits.argmax(axis=1))
        two = np.partition(logits, -2, axis=1)[:, -2:]
        margin.append(two[:, 1] - two[:, 0])
    return np.concatenate(nll), np.concatenate(top1), np.concatenate(margin)


def write_fields(name, lines):
    """tests/reference/NAME as a JSON object, one field a line."""
    with open(os.path.join(OUT, name), "w") as f:
        f.write("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in lines.items()) + "\n}\n")


def summary(ref_nll, ref_top1, nll, top1):
    d = np.abs(np.asarray(ref_nll) - nll)
    return {"mean_abs_dnll": round(float(d.mean()), 6), "max_abs_dnll": round(float(d.max()), 6),
            "top1_agreement": round(float(np.mean(np.asarray(ref_top1) == top1)), 6)}


def run(n_tokens, path, meta, W, types, sha, emulate, split):
    ref_name = f"gemma3_austen{n_tokens}.json"
    ref = json.load(open(os.path.join(OUT, ref_name)))
    ids = ref["ids"]
    assert len(ids) == n_tokens
    nll, top1, margin = forward(ids, meta, W, types)
    print(f"N={n_tokens} exact mean nll {nll.mean():.5f} (llama.cpp {ref['mean_nll']:.5f})", flush=True)
    cmp = {f"exact vs {ref_name}": summary(ref["nll"], ref["top1"], nll, top1)}
    emu_mean = None
    if emulate:
        emu_nll, emu_top1, _ = forward(ids, meta, W, types, ("act", "kv", "gelu"))
        cmp[f"emulated vs {ref_name}"] = summary(ref["nll"], ref["top1"], emu_nll, emu_top1)
        cmp["exact vs emulated"] = summary(nll, top1, emu_nll, emu_top1)
        emu_mean = float(emu_nll.mean())
    for effect in ("act", "kv", "gelu") if split else ():
        e_nll, e_top1, _ = forward(ids, meta, W, types, (effect,))
        cmp[f"emulated[{effect}] vs {ref_name}"] = summary(ref["nll"], ref["top1"], e_nll, e_top1)
        cmp[f"exact vs emulated[{effect}]"] = summary(nll, top1, e_nll, e_top1)
    for k, c in cmp.items():
        print(f"  {k}: {c}", flush=True)
    lines = {
        "source": f"numpy {np.__version__} float64 forward pass on gguf-py "
                  f"dequantized weights (tests/reference/numpy_gemma3.py)",
        "model": NAME, "model_sha256": sha, "mean_nll": float(nll.mean()),
        "ids": ids, "nll": [float(f"{v:.9g}") for v in nll], "top1": [int(v) for v in top1],
        "top1_margin": [float(f"{v:.6g}") for v in margin], "vs_llamacpp": cmp,
        "emulated_mean_nll": emu_mean,
    }
    write_fields(f"gemma3_austen{n_tokens}_f64.json", lines)


def greedy(path, meta, W, types, sha, n_new=64):
    """64 greedy tokens of the exact model after gemma3_greedy.json's prompt,
    each with its top-1 margin (nats between the best and the second logit),
    into gemma3_greedy_f64.json, and where llama.cpp's greedy ids part from them."""
    ref = json.load(open(os.path.join(OUT, "gemma3_greedy.json")))
    ids, out, margins = list(ref["prompt_ids"]), [], []
    for _ in range(n_new):
        _, top1, margin = forward(ids + [0], meta, W, types, last_only=True)
        out.append(int(top1[-1]))
        margins.append(float(f"{margin[-1]:.6g}"))
        ids.append(out[-1])
    llama = ref["greedy_ids"][:n_new]
    parts = next((i for i, (a, b) in enumerate(zip(out, llama)) if a != b), None)
    print(f"greedy: exact {out}\n  llama.cpp parts at {parts}; smallest margin {min(margins):.4f}",
          flush=True)
    lines = {
        "source": f"numpy {np.__version__} float64 forward pass on gguf-py "
                  f"dequantized weights (tests/reference/numpy_gemma3.py --greedy)",
        "model": NAME, "model_sha256": sha, "prompt_ids": ref["prompt_ids"], "greedy_ids": out,
        "top1_margin": margins, "llamacpp_parts_at": parts,
    }
    write_fields("gemma3_greedy_f64.json", lines)


def main():
    args = sys.argv[1:]
    emulate = "--exact" not in args
    split = "--split" in args
    sizes = [int(a) for a in args if not a.startswith("--")] or [512, 2000]
    path, meta, W, types = load()
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if "--greedy" in args:
        return greedy(path, meta, W, types, sha)
    for n_tokens in sizes:
        run(n_tokens, path, meta, W, types, sha, emulate, split)


if __name__ == "__main__":
    main()
