#!/usr/bin/env python3
"""A third, plain-numpy evaluation of SmolLM2-135M-Instruct (llama arch), float64.

Neither llama.cpp nor sinkstream: the weights are dequantized by gguf-py
(gguf.quants.dequantize, exact), the forward pass is written out below in
float64 from the GGUF's metadata, and the tokens are the ids llama.cpp gave in
smollm2_austen512.json. It tells how far llama.cpp's own numerics (8-bit
activations in its dot products, f16 KV cache) sit from the exact model, so a
comparison against llama.cpp can say which part of a difference is whose.

    python3 tests/reference/numpy_smollm2.py     # writes smollm2_austen512_f64.json

Output: {"source", "model", "model_sha256", "ids": [512], "nll": [511],
"top1": [511], "top1_margin": [511], "vs_llamacpp": {...}} with nll, top1 and
top1_margin defined as in smollm2_austen512.json (the exact float64 model),
and a summary of the differences from llama.cpp's f16-KV and f32-KV files,
both for the exact model ("exact vs ...") and for a second pass that emulates
llama.cpp's numerics ("emulated vs ..."): every matmul input rounded through
llama.cpp's 8-bit activation blocks (32 wide, scale amax/127 stored as f16,
round to nearest), and q, k, v and the softmax probabilities rounded to f16
as the f16 KV cache path does. If the emulation lands much closer to
llama.cpp than the exact model does, those two effects are what separates
llama.cpp from exact f32/f64 arithmetic.

The model, as llama.cpp's llama graph computes it (all in float64 here):
  x = token_embd[id]
  per layer: h = rmsnorm(x) * attn_norm; q, k, v = h Wq^T, h Wk^T, h Wv^T
             RoPE "normal" mode (the GGUF's q/k rows are already permuted for
             it): pairs (2i, 2i+1) of each 64-wide head rotated by
             pos * base^(-2i/64), base = llama.rope.freq_base;
             causal softmax(q k^T / sqrt(64)) v with 9 query heads over 3 KV
             heads (query head h uses KV head h // 3); x += o Wo^T
             h = rmsnorm(x) * ffn_norm; x += (silu(h Wg^T) * (h Wu^T)) Wd^T
  logits = (rmsnorm(x) * output_norm) token_embd^T   (tied embedding)
  rmsnorm(x) = x / sqrt(mean(x^2) + eps), eps = llama.attention.layer_norm_rms_epsilon
"""
import hashlib
import json
import os

import numpy as np
import gguf
from gguf import GGUFReader, GGMLQuantizationType as T

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "reference")
NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def main():
    path = os.path.join(ROOT, "models", "cache", NAME)
    r = GGUFReader(path)
    meta = {k: f.contents() for k, f in r.fields.items() if k.startswith("llama.")}
    W = {}
    for t in r.tensors:
        W[t.name] = gguf.quants.dequantize(t.data, T(t.tensor_type)).astype(np.float64)
    n_layer = meta["llama.block_count"]
    n_head = meta["llama.attention.head_count"]
    n_kv = meta["llama.attention.head_count_kv"]
    dim = meta["llama.embedding_length"]
    hd = dim // n_head
    eps = float(meta["llama.attention.layer_norm_rms_epsilon"])  # f32 value, as llama.cpp
    base = float(meta["llama.rope.freq_base"])
    n_rot = meta["llama.rope.dimension_count"]
    assert n_rot == hd

    ref = json.load(open(os.path.join(OUT, "smollm2_austen512.json")))
    ids = ref["ids"]
    n = len(ids)

    def rms(x, w):
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * w

    pos = np.arange(n, dtype=np.float64)[:, None]
    inv = base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = pos * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

    def rope(x):  # x: (n, heads, hd), adjacent pairs
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out

    mask = np.triu(np.full((n, n), -np.inf), 1)
    f16 = lambda a: a.astype(np.float16).astype(np.float64)

    def q8(a):
        """llama.cpp's activation round trip: 32-wide blocks, d = amax/127 kept as f16."""
        b = a.reshape(*a.shape[:-1], -1, 32)
        d = np.abs(b).max(axis=-1, keepdims=True) / 127
        q = np.round(np.divide(b, d, out=np.zeros_like(b), where=d > 0))
        return (f16(d) * q).reshape(a.shape)

    def forward(emulate):
        act = q8 if emulate else (lambda a: a)
        kv = f16 if emulate else (lambda a: a)
        x = W["token_embd.weight"][ids]
        for L in range(n_layer):
            p = f"blk.{L}."
            h = act(rms(x, W[p + "attn_norm.weight"]))
            q = kv(rope((h @ W[p + "attn_q.weight"].T).reshape(n, n_head, hd)))
            k = kv(rope((h @ W[p + "attn_k.weight"].T).reshape(n, n_kv, hd)))
            v = kv((h @ W[p + "attn_v.weight"].T).reshape(n, n_kv, hd))
            o = np.empty((n, n_head, hd))
            g = n_head // n_kv
            for hh in range(n_head):
                sc = q[:, hh, :] @ k[:, hh // g, :].T / np.sqrt(hd) + mask
                sc = np.exp(sc - sc.max(axis=1, keepdims=True))
                sc /= sc.sum(axis=1, keepdims=True)
                o[:, hh, :] = kv(sc) @ v[:, hh // g, :]
            x = x + act(o.reshape(n, dim)) @ W[p + "attn_output.weight"].T
            h = act(rms(x, W[p + "ffn_norm.weight"]))
            gt = h @ W[p + "ffn_gate.weight"].T
            up = h @ W[p + "ffn_up.weight"].T
            x = x + act(gt / (1 + np.exp(-gt)) * up) @ W[p + "ffn_down.weight"].T
        logits = act(rms(x, W["output_norm.weight"])) @ W["token_embd.weight"].T
        mx = logits.max(axis=1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1))
        nll = (lse[:-1] - logits[np.arange(n - 1), np.array(ids[1:])])
        srt = np.sort(logits[:-1], axis=1)
        return nll, logits[:-1].argmax(axis=1), srt[:, -1] - srt[:, -2]

    nll, top1, margin = forward(False)
    emu_nll, emu_top1, _ = forward(True)

    cmp = {}
    for f in ["smollm2_austen512.json", "smollm2_austen512_kvf32.json"]:
        fp = os.path.join(OUT, f)
        if not os.path.exists(fp):
            continue
        o = json.load(open(fp))
        for tag, a, t1 in [("exact", nll, top1), ("emulated", emu_nll, emu_top1)]:
            d = np.abs(np.array(o["nll"]) - a)
            c = {"mean_abs_dnll": round(float(d.mean()), 6), "max_abs_dnll": round(float(d.max()), 6),
                 "top1_agreement": round(float(np.mean(np.array(o["top1"]) == t1)), 6)}
            cmp[f"{tag} vs {f}"] = c
            print(f"{tag} vs {f}: {c}")
    d = np.abs(nll - emu_nll)
    cmp["exact vs emulated"] = {"mean_abs_dnll": round(float(d.mean()), 6), "max_abs_dnll": round(float(d.max()), 6),
                                "top1_agreement": round(float(np.mean(top1 == emu_top1)), 6)}
    print(f"exact vs emulated: {cmp['exact vs emulated']}")
    h = hashlib.sha256(open(path, "rb").read()).hexdigest()
    lines = {
        "source": f"numpy {np.__version__} float64 forward pass on gguf-py "
                  f"dequantized weights (tests/reference/numpy_smollm2.py)",
        "model": NAME, "model_sha256": h, "mean_nll": float(nll.mean()),
        "ids": ids, "nll": [float(f"{v:.9g}") for v in nll], "top1": [int(v) for v in top1],
        "top1_margin": [float(f"{v:.6g}") for v in margin], "vs_llamacpp": cmp,
    }
    with open(os.path.join(OUT, "smollm2_austen512_f64.json"), "w") as f:
        f.write("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in lines.items()) + "\n}\n")
    print(f"mean nll {nll.mean():.5f}")


if __name__ == "__main__":
    main()
