#!/usr/bin/env python3
"""Tiny random checkpoints of every GGUF architecture sinkstream reads, each
written twice: as a Hugging Face directory (config.json + model.safetensors,
the family's original layout) and as the GGUF llama.cpp's convert_hf_to_gguf.py
makes of it. The GGUF side uses gguf-py (llama.cpp's own writer, PyPI
`gguf`) for the file, gguf-py's TensorNameMap for every tensor name, and the
converter's own transformations, copied from convert_hf_to_gguf.py
(llama.cpp master, 2024-2025):

  llama   LlamaModel.permute of q/k rows (and the rope.dimension_count key)
  qwen2   nothing permuted; no rope.dimension_count (llama.cpp: head size)
  gptneox query_key_value [head, 3, d] -> [q; k; v]; no rope.freq_base key
  falcon  query_key_value [kv group, g + 2, d] -> [q; k; v]; ln_attn ->
          attn_norm_2, ln_mlp -> attn_norm; context_length 2048
  bloom   query_key_value [head, 3, d] -> [q; k; v]; output.weight = a copy
          of the embedding when the checkpoint has no lm_head
  mpt     Wqkv kept; clamp_kqv and max_alibi_bias keys; layer_norm_eps 1e-5
  gpt2    Conv1D weights transposed

tests/test_gguf_arch.cpp loads both with sinkstream and requires the same
logits. Nothing here imports sinkstream. Run from the repository root:

  python3 tests/reference/make_gguf_arch_refs.py   # needs numpy and gguf (PyPI)

Writes tests/reference/gguf_arch/<name>/{config.json,model.safetensors,model.gguf}.
"""
import json
import os
import struct
import sys

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("needs gguf-py: pip install gguf")

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gguf_arch")
V, D, L = 32, 16, 2  # vocabulary, hidden size, layers


def write_safetensors(path, tensors):
    header, blobs, at = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class Maker:
    def __init__(self, name, seed):
        self.name, self.rng, self.t = name, np.random.default_rng(seed), {}

    def w(self, name, *shape, scale=None):
        fan = shape[-1]
        self.t[name] = self.rng.normal(0, scale or 1 / np.sqrt(fan), shape).astype(np.float32)

    def norm(self, name, bias=True):
        self.t[name + ".weight"] = (1 + 0.1 * self.rng.normal(size=D)).astype(np.float32)
        if bias:
            self.t[name + ".bias"] = (0.1 * self.rng.normal(size=D)).astype(np.float32)

    def lin(self, name, out, inp, bias=True, conv1d=False):
        self.w(name + ".weight", *((inp, out) if conv1d else (out, inp)))
        if bias:
            self.t[name + ".bias"] = (0.05 * self.rng.normal(size=out)).astype(np.float32)


def save(m, config, arch, params, convert):
    """params(writer) writes the keys; convert(name, array) yields (hf name for the map, array)."""
    d = os.path.join(OUT, m.name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    write_safetensors(os.path.join(d, "model.safetensors"), m.t)
    w = gguf.GGUFWriter(os.path.join(d, "model.gguf"), gguf.MODEL_ARCH_NAMES[arch])
    params(w)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    names = gguf.get_tensor_name_map(arch, L)
    for name, a in m.t.items():
        for src, b in convert(name, a):
            new = names.get_name(src, try_suffixes=(".weight", ".bias"))
            assert new, f"{m.name}: gguf-py cannot map {src}"
            w.add_tensor(new, np.ascontiguousarray(b, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", d)


def keep(name, a):
    return [(name, a)]


def llama_like(name, family, heads, kv, tied, bias_qkv, seed):
    m = Maker(name, seed)
    hd, F = D // heads, 40
    m.w("model.embed_tokens.weight", V, D, scale=1.0)
    for l in range(L):
        p = f"model.layers.{l}."
        m.norm(p + "input_layernorm", bias=False)
        m.lin(p + "self_attn.q_proj", heads * hd, D, bias=bias_qkv)
        m.lin(p + "self_attn.k_proj", kv * hd, D, bias=bias_qkv)
        m.lin(p + "self_attn.v_proj", kv * hd, D, bias=bias_qkv)
        m.lin(p + "self_attn.o_proj", D, heads * hd, bias=False)
        m.norm(p + "post_attention_layernorm", bias=False)
        m.lin(p + "mlp.gate_proj", F, D, bias=False)
        m.lin(p + "mlp.up_proj", F, D, bias=False)
        m.lin(p + "mlp.down_proj", D, F, bias=False)
    m.norm("model.norm", bias=False)
    if not tied:
        m.lin("lm_head", V, D, bias=False)
    cls = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}[family]
    config = {"model_type": family, "architectures": [cls], "hidden_size": D,
              "intermediate_size": F, "num_attention_heads": heads, "num_key_value_heads": kv,
              "num_hidden_layers": L, "vocab_size": V, "max_position_embeddings": 64,
              "rms_norm_eps": 1e-6, "rope_theta": 5000.0, "hidden_act": "silu",
              "tie_word_embeddings": tied}
    if family == "qwen2":
        config["use_sliding_window"] = False
    return m, config


def permute(w, n_head, n_head_kv):  # LlamaModel.permute
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def base_params(w, c):  # Model.set_gguf_parameters
    w.add_block_count(c["num_hidden_layers"])
    w.add_context_length(c["max_position_embeddings"])
    w.add_embedding_length(c["hidden_size"])
    w.add_feed_forward_length(c["intermediate_size"])
    w.add_head_count(c["num_attention_heads"])
    w.add_head_count_kv(c["num_key_value_heads"])
    w.add_rope_freq_base(c["rope_theta"])
    w.add_layer_norm_rms_eps(c["rms_norm_eps"])


def make_llama():
    m, c = llama_like("llama", "llama", 4, 2, False, False, 1)

    def params(w):
        base_params(w, c)
        w.add_vocab_size(V)
        w.add_rope_dimension_count(D // 4)

    def convert(name, a):
        if name.endswith(("q_proj.weight", "q_proj.bias")):
            a = permute(a, 4, 4)
        if name.endswith(("k_proj.weight", "k_proj.bias")):
            a = permute(a, 4, 2)
        return [(name, a)]

    save(m, c, gguf.MODEL_ARCH.LLAMA, params, convert)


def make_qwen2():
    m, c = llama_like("qwen2", "qwen2", 4, 2, True, True, 2)
    save(m, c, gguf.MODEL_ARCH.QWEN2, lambda w: base_params(w, c), keep)


def fused_bloom_style(a, n_head):  # [head, 3, d, ...] -> [q; k; v]
    q = a.reshape((n_head, 3, a.shape[0] // n_head // 3) + a.shape[1:])
    return np.concatenate([q[:, i].reshape((-1,) + a.shape[1:]) for i in range(3)], axis=0)


def make_gptneox():
    m, H, F = Maker("gptneox", 3), 4, 48
    m.w("gpt_neox.embed_in.weight", V, D, scale=1.0)
    for l in range(L):
        p = f"gpt_neox.layers.{l}."
        m.norm(p + "input_layernorm")
        m.norm(p + "post_attention_layernorm")
        m.lin(p + "attention.query_key_value", 3 * D, D)
        m.lin(p + "attention.dense", D, D)
        m.lin(p + "mlp.dense_h_to_4h", F, D)
        m.lin(p + "mlp.dense_4h_to_h", D, F)
    m.norm("gpt_neox.final_layer_norm")
    m.lin("embed_out", V, D, bias=False)
    c = {"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"], "hidden_size": D,
         "intermediate_size": F, "num_attention_heads": H, "num_hidden_layers": L,
         "vocab_size": V, "max_position_embeddings": 64, "rotary_pct": 0.5,
         "rotary_emb_base": 10000, "layer_norm_eps": 1e-5, "use_parallel_residual": True,
         "hidden_act": "gelu", "tie_word_embeddings": False}

    def params(w):  # GPTNeoXModel.set_gguf_parameters: no rope.freq_base
        w.add_context_length(64)
        w.add_embedding_length(D)
        w.add_block_count(L)
        w.add_feed_forward_length(F)
        w.add_rope_dimension_count(int(0.5 * (D // H)))
        w.add_head_count(H)
        w.add_parallel_residual(True)
        w.add_layer_norm_eps(1e-5)

    def convert(name, a):
        if "query_key_value" in name:
            a = fused_bloom_style(a, H)
        return [(name, a)]

    save(m, c, gguf.MODEL_ARCH.GPTNEOX, params, convert)


def make_falcon():
    m, H, KV = Maker("falcon", 4), 4, 2
    hd = D // H
    m.w("transformer.word_embeddings.weight", V, D, scale=1.0)
    for l in range(L):
        p = f"transformer.h.{l}."
        m.norm(p + "ln_attn")
        m.norm(p + "ln_mlp")
        m.lin(p + "self_attention.query_key_value", (H + 2 * KV) * hd, D, bias=False)
        m.lin(p + "self_attention.dense", D, D, bias=False)
        m.lin(p + "mlp.dense_h_to_4h", 4 * D, D, bias=False)
        m.lin(p + "mlp.dense_4h_to_h", D, 4 * D, bias=False)
    m.norm("transformer.ln_f")
    c = {"model_type": "falcon", "architectures": ["FalconForCausalLM"], "hidden_size": D,
         "num_attention_heads": H, "num_kv_heads": KV, "num_hidden_layers": L,
         "vocab_size": V, "max_position_embeddings": 2048, "layer_norm_epsilon": 1e-5,
         "new_decoder_architecture": True, "num_ln_in_parallel_attn": 2, "bias": False,
         "parallel_attn": True, "alibi": False, "rope_theta": 10000.0,
         "tie_word_embeddings": True}

    def params(w):  # FalconModel.set_gguf_parameters
        w.add_context_length(2048)
        w.add_tensor_data_layout("jploski")
        w.add_embedding_length(D)
        w.add_feed_forward_length(4 * D)
        w.add_block_count(L)
        w.add_head_count(H)
        w.add_head_count_kv(KV)
        w.add_layer_norm_eps(1e-5)

    def convert(name, a):
        if "query_key_value" in name:
            qkv = a.reshape(KV, H // KV + 2, hd, hd * H)
            q = qkv[:, :-2].reshape(H * hd, hd * H)
            k = qkv[:, [-2]].reshape(KV * hd, hd * H)
            v = qkv[:, [-1]].reshape(KV * hd, hd * H)
            a = np.concatenate([q, k, v]).reshape(a.shape)
        return [(name, a)]

    save(m, c, gguf.MODEL_ARCH.FALCON, params, convert)


def make_bloom():
    m, H = Maker("bloom", 5), 4
    m.w("transformer.word_embeddings.weight", V, D, scale=1.0)
    m.norm("transformer.word_embeddings_layernorm")
    for l in range(L):
        p = f"transformer.h.{l}."
        m.norm(p + "input_layernorm")
        m.lin(p + "self_attention.query_key_value", 3 * D, D)
        m.lin(p + "self_attention.dense", D, D)
        m.norm(p + "post_attention_layernorm")
        m.lin(p + "mlp.dense_h_to_4h", 4 * D, D)
        m.lin(p + "mlp.dense_4h_to_h", D, 4 * D)
    m.norm("transformer.ln_f")
    c = {"model_type": "bloom", "architectures": ["BloomForCausalLM"], "n_embed": D,
         "n_head": H, "n_layer": L, "vocab_size": V, "seq_length": 64,
         "layer_norm_epsilon": 1e-5, "apply_residual_connection_post_layernorm": False}

    def params(w):  # BloomModel.set_gguf_parameters
        w.add_context_length(64)
        w.add_embedding_length(D)
        w.add_feed_forward_length(4 * D)
        w.add_block_count(L)
        w.add_head_count(H)
        w.add_head_count_kv(H)
        w.add_layer_norm_eps(1e-5)

    def convert(name, a):
        name = name.replace("transformer.", "")
        if "query_key_value" in name:
            a = fused_bloom_style(a, H)
        out = [(name, a)]
        if name == "word_embeddings.weight":  # no lm_head: output is a copy
            out.append(("lm_head.weight", a))
        return out

    save(m, c, gguf.MODEL_ARCH.BLOOM, params, convert)


def make_mpt():
    m, H = Maker("mpt", 6), 4
    m.w("transformer.wte.weight", V, D, scale=1.0)
    for l in range(L):
        p = f"transformer.blocks.{l}."
        m.norm(p + "norm_1", bias=False)
        m.lin(p + "attn.Wqkv", 3 * D, D, bias=False)
        m.lin(p + "attn.out_proj", D, D, bias=False)
        m.norm(p + "norm_2", bias=False)
        m.lin(p + "ffn.up_proj", 4 * D, D, bias=False)
        m.lin(p + "ffn.down_proj", D, 4 * D, bias=False)
    m.norm("transformer.norm_f", bias=False)
    c = {"model_type": "mpt", "architectures": ["MPTForCausalLM"], "d_model": D, "n_heads": H,
         "n_layers": L, "expansion_ratio": 4, "max_seq_len": 64, "vocab_size": V,
         "no_bias": True, "learned_pos_emb": True,
         "attn_config": {"attn_type": "multihead_attention", "alibi": True,
                         "alibi_bias_max": 8, "clip_qkv": 0.6, "qk_ln": False,
                         "softmax_scale": None}}

    def params(w):  # MPTModel.set_gguf_parameters
        w.add_context_length(64)
        w.add_embedding_length(D)
        w.add_block_count(L)
        w.add_feed_forward_length(4 * D)
        w.add_head_count(H)
        w.add_layer_norm_eps(1e-5)
        w.add_clamp_kqv(0.6)
        w.add_max_alibi_bias(8)

    save(m, c, gguf.MODEL_ARCH.MPT, params, keep)


def make_gpt2():
    m, H, P = Maker("gpt2", 7), 4, 48
    m.w("wte.weight", V, D, scale=1.0)
    m.w("wpe.weight", P, D, scale=0.3)
    for l in range(L):
        p = f"h.{l}."
        m.norm(p + "ln_1")
        m.lin(p + "attn.c_attn", 3 * D, D, conv1d=True)
        m.lin(p + "attn.c_proj", D, D, conv1d=True)
        m.norm(p + "ln_2")
        m.lin(p + "mlp.c_fc", 4 * D, D, conv1d=True)
        m.lin(p + "mlp.c_proj", D, 4 * D, conv1d=True)
    m.norm("ln_f")
    c = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": D, "n_head": H,
         "n_layer": L, "n_positions": P, "n_ctx": P, "n_inner": None, "vocab_size": V,
         "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}

    def params(w):  # GPT2Model.set_gguf_parameters
        w.add_block_count(L)
        w.add_context_length(P)
        w.add_embedding_length(D)
        w.add_feed_forward_length(4 * D)
        w.add_head_count(H)
        w.add_layer_norm_eps(1e-5)

    def convert(name, a):
        if name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            a = a.T
        return [(name, a)]

    save(m, c, gguf.MODEL_ARCH.GPT2, params, convert)


if __name__ == "__main__":
    for make in (make_llama, make_qwen2, make_gptneox, make_falcon, make_bloom, make_mpt,
                 make_gpt2):
        make()
