#!/usr/bin/env bash
# Regenerates the seed corpora in corpus/<target>/ from a built sinkstream
# (its own trainer and GGUF writer: tiny checkpoints) and python3 (a tiny
# llama2.c checkpoint, tokenizer.json files, request bodies).
#   tests/fuzz/make_corpus.sh build/sinkstream
set -euo pipefail
bin=$(realpath "${1:?usage: make_corpus.sh path/to/sinkstream}")
cd "$(dirname "$0")"
root=$(realpath ../..)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sep=$'\n#--8<--#\n'  # fuzz_util.h's kSeparator
rm -rf corpus && mkdir -p corpus/{fuzz_gguf,fuzz_safetensors,fuzz_llama2c,fuzz_tokenizer_json,fuzz_request}

for i in $(seq 40); do echo "Once upon a time there was a cat. The cat sat on the mat."; done >"$tmp/text.txt"
train() { "$bin" train --text "$tmp/text.txt" --layers 1 --heads 2 --ctx 8 --steps 1 --batch 1 \
  --eval-every 0 -t 1 "$@" >/dev/null; }
train -o "$tmp/byte" --dim 8 --hidden 8
train -o "$tmp/spm" --dim 32 --hidden 32 --kv-heads 1 --tokenizer "$root/models/stories260K/tok512.bin"
# The same weights under a Llama config.json (the family convert writes).
llama() {
  python3 -c 'import json, sys
c = json.load(open(sys.argv[1] + "/config.json"))
keys = ["hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
        "num_hidden_layers", "vocab_size", "max_position_embeddings", "rope_theta",
        "tie_word_embeddings", "bos_token_id", "eos_token_id"]
out = {k: c[k] for k in keys}
out.update(model_type="llama", architectures=["LlamaForCausalLM"], rms_norm_eps=1e-5)
json.dump(out, open(sys.argv[1] + "/config.json", "w"), indent=1)' "$1"
}
cp -rL "$tmp/byte/latest" "$tmp/byte_llama" && llama "$tmp/byte_llama"
cp -rL "$tmp/spm/latest" "$tmp/spm_llama" && llama "$tmp/spm_llama"
"$bin" convert -m "$tmp/byte_llama" -o corpus/fuzz_gguf/byte_f32.gguf --type f32 -t 1 >/dev/null
"$bin" convert -m "$tmp/spm_llama" -o corpus/fuzz_gguf/spm_q8_0.gguf --type q8_0 -t 1 \
  --tokenizer "$root/models/stories260K/tok512.bin" >/dev/null

d=$tmp/byte/latest
{ cat "$d/config.json"; printf '%s' "$sep"; cat "$d/model.safetensors"; } >corpus/fuzz_safetensors/single
{ cat "$d/config.json"; printf '%s' "$sep"; cat "$d/model.safetensors"; printf '%s' "$sep"
  python3 -c 'import json, struct, sys
h = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", h[:8])[0]
names = [k for k in json.loads(h[8:8 + n]) if k != "__metadata__"]
print(json.dumps({"metadata": {}, "weight_map": {k: "model-00001-of-00001.safetensors" for k in names}}))' \
    "$d/model.safetensors"; } >corpus/fuzz_safetensors/sharded
{ cat "$d/config.json"; printf '%s' "$sep"; } >corpus/fuzz_safetensors/config_only
{ cat "$tmp/byte_llama/config.json"; printf '%s' "$sep"; cat "$d/model.safetensors"; } \
  >corpus/fuzz_safetensors/llama

python3 - "$root/models/stories260K/tok512.bin" "$sep" <<'PY'
import json, random, struct, sys
tok, sep = open(sys.argv[1], "rb").read(), sys.argv[2].encode()
random.seed(1)
# llama2.c: 7 int32 (dim, hidden, layers, heads, kv_heads, vocab (< 0: untied), seq_len), then f32 weights.
dim, hidden, layers, heads, kv, vocab, seq = 8, 16, 1, 2, 2, 512, 16
kv_dim, hs = dim * kv // heads, dim // heads
n = (vocab * dim + layers * (dim + dim * dim + 2 * dim * kv_dim + dim * dim + dim + 3 * hidden * dim)
     + dim + seq * hs)
ck = struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq)
ck += struct.pack(f"<{n}f", *[random.gauss(0, 0.3) for _ in range(n)])
open("corpus/fuzz_llama2c/tied", "wb").write(ck + sep + tok)
untied = struct.pack("<7i", dim, hidden, layers, heads, kv, -vocab, seq) + ck[28:]
untied += struct.pack(f"<{vocab * dim}f", *[random.gauss(0, 0.3) for _ in range(vocab * dim)])
open("corpus/fuzz_llama2c/untied", "wb").write(untied + sep + tok)

# tokenizer.json: GPT-2 byte-level BPE with merges, added tokens and pre-tokenizers.
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cs, k = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256 + k); k += 1
byte_char = {b: chr(c) for b, c in zip(bs, cs)}
bl = lambda s: "".join(byte_char[b] for b in s.encode())
merges = [(" ", "c"), ("a", "t"), (" c", "at"), ("h", "e"), (" ", "t"), (" t", "he"), ("1", "2"),
          ("3", "4"), ("12", "3")]
extra = [a + b for a, b in merges]
def tj(pre, added=(), model_extra=None):
    vocab = {byte_char[b]: b for b in range(256)}
    for i, e in enumerate(extra):
        vocab[bl(e)] = 256 + i
    m = [bl(a) + " " + bl(b) for a, b in merges]
    model = {"type": "BPE", "vocab": vocab, "merges": m}
    model.update(model_extra or {})
    return json.dumps({"version": "1.0", "added_tokens": list(added), "normalizer": None,
                       "pre_tokenizer": pre, "post_processor": None,
                       "decoder": {"type": "ByteLevel"}, "model": model}).encode()
byte_pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
split_pre = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"},
     "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
added = [{"id": 265, "content": "<|im_start|>", "special": True},
         {"id": 266, "content": "<|im_end|>", "special": True}]
text = "The cat sat on the mat. 1234 naïve 日本 <|im_start|>user\nhi<|im_end|>\n".encode()
cfg = json.dumps({"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "add_bos_token": True}).encode()
d = "corpus/fuzz_tokenizer_json/"
open(d + "gpt2", "wb").write(tj(byte_pre) + sep + text)
open(d + "split_added", "wb").write(tj(split_pre, added) + sep + text)
open(d + "with_config", "wb").write(tj(split_pre, added) + sep + text + sep + cfg)
open(d + "ignore_merges", "wb").write(tj(byte_pre, (), {"ignore_merges": True}) + sep + text)

# A GGUF holding only a GPT-2-style BPE vocabulary (tokenizer.ggml.*), as llama.cpp writes one.
def gguf_str(b):
    return struct.pack("<Q", len(b)) + b
def kv(key, typ, payload):
    return gguf_str(key.encode()) + struct.pack("<I", typ) + payload
tokens = [byte_char[b] for b in range(256)] + [bl(e) for e in extra] + ["<|im_start|>", "<|im_end|>"]
ttypes = [1] * (len(tokens) - 2) + [3, 3]
bpe_merges = [bl(a) + " " + bl(b) for a, b in merges]
strs = lambda xs: struct.pack("<IQ", 8, len(xs)) + b"".join(gguf_str(x.encode()) for x in xs)
kvs = [kv("general.architecture", 8, gguf_str(b"llama")),
       kv("tokenizer.ggml.model", 8, gguf_str(b"gpt2")),
       kv("tokenizer.ggml.pre", 8, gguf_str(b"gpt-2")),
       kv("tokenizer.ggml.tokens", 9, strs(tokens)),
       kv("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, len(ttypes)) + struct.pack(f"<{len(ttypes)}i", *ttypes)),
       kv("tokenizer.ggml.merges", 9, strs(bpe_merges)),
       kv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 265)),
       kv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 266)),
       kv("tokenizer.ggml.add_bos_token", 7, b"\x00")]
open("corpus/fuzz_gguf/bpe_vocab.gguf", "wb").write(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs))

bodies = {
    "completion": {"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 16,
                   "temperature": 0.7, "top_p": 0.9, "top_k": 40, "seed": 7, "stop": ["\n", "."]},
    "completion_ids": {"prompt": [[1, 403, 407]], "stream": True,
                       "stream_options": {"include_usage": True}, "session_id": "s-1",
                       "policy": "sinks", "sinks": 4, "window": 124},
    "chat": {"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                          {"role": "assistant", "content": "Hello."},
                          {"role": "developer", "content": "x"}],
             "max_completion_tokens": 8, "ignore_eos": True, "n": 1, "stop": "!"},
    "big_number": {"prompt": "x", "temperature": 1e999},
}
for name, b in bodies.items():
    open("corpus/fuzz_request/" + name, "w").write(json.dumps(b).replace("Infinity", "1e999"))
PY
ls -l corpus/*
