#!/usr/bin/env python3
"""Independent-oracle reference data from llama.cpp, for issue 10.

Uses llama.cpp only, through llama-cpp-python's Python API (llama_cpp.Llama),
on the two real models in models/cache/ (scripts/fetch-models.sh) and the texts
in tests/data/text/. Build llama.cpp and the bindings first, then run from the
repository root:

    scripts/build-llamacpp.sh
    source build-ref/env.sh
    python3 tests/reference/make_llamacpp_refs.py          # everything
    python3 tests/reference/make_llamacpp_refs.py tokens   # only some parts:
        tokens | smollm2 | gemma3   (any of them)

Every output carries "llama_cpp": llama-cpp-python's version, llama.cpp's
llama_version() and the commit of the vendored llama.cpp, and "model_sha256".

Outputs (tests/reference/):
  tokens_smollm2.json, tokens_gemma3.json
      {"llama_cpp", "model", "model_sha256",
       "cases": [{"name", "file": "tests/data/text/austen.txt" | "text": "...",
                  "add_special": bool, "parse_special": bool, "ids": [...]}]}
      ids = llama_tokenize(vocab, utf8(text), add_special, parse_special).
      For "file" cases the text is the file's bytes, whole.
  smollm2_austen512.json, gemma3_austen512.json, gemma3_austen2000.json
      {"llama_cpp", "model", "model_sha256", "settings", "ids": [N],
       "nll": [N-1], "top1": [N-1]}
      ids = the first N ids of tests/data/text/austen.txt tokenised with
      add_special = the model's add_bos (SmolLM2: no BOS; Gemma 3: BOS first),
      parse_special false. They are evaluated in one context (n_ctx 512, or
      2048 for N = 2000) with logits for every position, n_batch = n_ubatch =
      512, 2 threads, llama.cpp's defaults otherwise (f16 KV cache, flash
      attention off as llama_cpp.Llama sets it). nll[i] = -log_softmax(
      logits[i])[ids[i+1]] computed in float64 from the f32 logits; top1[i] =
      argmax(logits[i]) (first index on ties); top1_margin[i] = the largest
      logit minus the second largest (f32 logits), to tell near-ties apart.
  smollm2_austen512_kvf32.json
      the same as smollm2_austen512.json with an f32 KV cache (type_k = type_v
      = GGML_TYPE_F32), to separate the f16 cache's share of the difference.
  smollm2_greedy.json, gemma3_greedy.json
      {"llama_cpp", "model", "model_sha256", "settings", "prompt",
       "prompt_ids", "greedy_ids": [64], "first_eog": index or null}
      prompt_ids = tokenize(prompt, add_special = add_bos, parse_special
      true); then 64 steps of: argmax of the last position's logits, append,
      decode that one token. Generation does not stop at an end-of-generation
      token: greedy_ids is exactly what argmax gives for 64 steps, and
      first_eog is the index in greedy_ids of the first token that llama.cpp
      calls end-of-generation (llama_vocab_is_eog), or null.
"""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "reference")
MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}
THREADS = 2
N_GREEDY = 64

SMOLLM2_CHAT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
                "trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the "
                "capital of France? Answer in two sentences.<|im_end|>\n"
                "<|im_start|>assistant\n")
GEMMA3_CHAT = ("<start_of_turn>user\nWhat is the capital of France? Answer in two "
               "sentences.<end_of_turn>\n<start_of_turn>model\n")

BOOKS = ["austen", "kjv", "tinystories"]

# (name, text) tokenised with add_special false, parse_special false
TRICKY = [
    ("empty", ""),
    ("digits", "12345 3.14159 1,000,000"),
    ("digit_runs", "0 1 22 333 4444 55555 666666 7777777 88888888 1234567890123"),
    ("money_dates", "On 2024-03-15 it cost $1,234.56 (about \u20ac1.1k), up 100%."),
    ("emoji", "Hello \U0001F44B world \U0001F30D! \U0001F468\u200D\U0001F469\u200D\U0001F467 \u2764\uFE0F \U0001F600\U0001F600"),
    ("cjk", "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u3053\u3093\u306b\u3061\u306f\u3001\u30ab\u30bf\u30ab\u30ca \uc548\ub155\ud558\uc138\uc694"),
    ("leading_spaces", "   three leading spaces"),
    ("trailing_spaces", "trailing spaces   "),
    ("multiple_spaces", "multiple    spaces  between     words"),
    ("only_spaces", "     "),
    ("single_space", " "),
    ("newlines_tabs", "line one\nline two\n\n\n\tindented\ttab\t\tx\r\nwindows line\n"),
    ("only_newlines", "\n\n\n"),
    ("contractions", "I'm don't we'll they've she'd it's can't Y'all o'clock"),
    ("contractions_upper", "I'M DON'T WE'LL THEY'VE SHE'D IT'S"),
    ("accented", "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade S\u00e3o Paulo Z\u00fcrich \u00c6r\u00f8sk\u00f8bing \u00e9l\u00e8ve \u0141\u00f3d\u017a \u0130stanbul"),
    ("greek_cyrillic", "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5, \u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440"),
    ("code_python", "def f(x):\n    return x**2 + 1  # square\n\nif __name__ == '__main__':\n\tprint(f(3))\n"),
    ("code_c", "int main(void) { for (int i = 0; i < 10; ++i) printf(\"%d\\n\", i); return 0; }"),
    ("punctuation", "Hello, world! How are you?? ... --- \"quoted\" 'single' (paren) [bracket] {brace} <angle>"),
    ("url_email", "https://example.com/path/to?q=1&r=two#frag user.name@example.org"),
    ("long_words", "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism"),
    ("mixed_case", "camelCaseWord snake_case_word SCREAMING_CASE kebab-case-word HTTPServer"),
    ("symbols", "\u2248 \u2260 \u2264 \u2265 \u221e \u2211 \u221a \u00b1 \u00d7 \u00f7 \u2192 \u2713 \u2022 \u00a9 \u00ae \u2122"),
    ("fullwidth_combining", "\uff21\uff22\uff23 e\u0301 n\u0303 a\u0308"),
]

SPECIAL = {
    "smollm2": [
        ("chatml_special", "<|im_start|>user\nHi<|im_end|>"),
        ("chatml_full", SMOLLM2_CHAT),
        ("endoftext_special", "Hello<|endoftext|>world"),
    ],
    "gemma3": [
        ("turn_special", "<start_of_turn>user\nHi<end_of_turn>"),
        ("turn_full", GEMMA3_CHAT),
        ("bos_eos_special", "<bos>Hello<eos>world"),
    ],
}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def llama_cpp_version():
    lib = llama_cpp.llama_version().decode() if hasattr(llama_cpp, "llama_version") else "?"
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(llama_cpp.__file__))),
                       "vendor", "llama.cpp")
    try:
        commit = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except Exception:
        commit = "unknown"
    return f"llama-cpp-python {llama_cpp.__version__}; llama.cpp {lib}; commit {commit}"


def write_json(name, obj):
    """Compact: one key a line, lists on one line."""
    path = os.path.join(OUT, name)
    if isinstance(obj.get("cases"), list):
        head = {k: v for k, v in obj.items() if k != "cases"}
        lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in head.items()]
        cases = ",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in obj["cases"])
        lines.append(f'  "cases": [\n{cases}\n  ]')
    else:
        lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in obj.items()]
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {path}", file=sys.stderr)


def model_path(key):
    p = os.path.join(ROOT, "models", "cache", MODELS[key])
    if not os.path.exists(p):
        sys.exit(f"missing {p}: run scripts/fetch-models.sh first")
    return p


def add_bos(llm):
    return bool(llama_cpp.llama_vocab_get_add_bos(llm._model.vocab))


def tokens(key, version):
    path = model_path(key)
    llm = Llama(model_path=path, vocab_only=True, verbose=False)
    cases = []

    def case(name, add_special, parse_special, text=None, file=None):
        data = text.encode("utf-8") if file is None else open(os.path.join(ROOT, file), "rb").read()
        ids = llm.tokenize(data, add_bos=add_special, special=parse_special)
        c = {"name": name}
        if file is None:
            c["text"] = text
        else:
            c["file"] = file
        c.update({"add_special": add_special, "parse_special": parse_special, "ids": ids})
        cases.append(c)

    for b in BOOKS:
        case(b, False, False, file=f"tests/data/text/{b}.txt")
    for name, text in TRICKY:
        case(name, False, False, text=text)
    for name, text in SPECIAL[key]:
        case(name, False, True, text=text)
        case(name + "_as_text", False, False, text=text)
    case("add_special_hello", True, False, text="Hello world")
    case("add_special_chat", True, True, text=SPECIAL[key][0][1])
    case("austen_add_special", True, False, file="tests/data/text/austen.txt")
    write_json(f"tokens_{key}.json", {
        "llama_cpp": version, "model": MODELS[key], "model_sha256": sha256_file(path),
        "add_bos": add_bos(llm), "cases": cases})


def load(key, n_ctx, kv_f32=False):
    kv = {"type_k": 0, "type_v": 0} if kv_f32 else {}  # 0 = GGML_TYPE_F32
    return Llama(model_path=model_path(key), n_ctx=n_ctx, n_batch=512, n_ubatch=512,
                 n_threads=THREADS, n_threads_batch=THREADS, logits_all=True,
                 verbose=False, seed=0, **kv)


def settings(llm, n_ctx, kv_f32=False):
    return {"n_ctx": n_ctx, "n_batch": 512, "n_ubatch": 512, "threads": THREADS,
            "kv_cache": "f32" if kv_f32 else "f16", "flash_attn": False,
            "system_info": llama_cpp.llama_print_system_info().decode().strip()}


def nll_eval(key, n, n_ctx, version, out_name, kv_f32=False):
    path = model_path(key)
    llm = load(key, n_ctx, kv_f32)
    text = open(os.path.join(ROOT, "tests/data/text/austen.txt"), "rb").read()
    ids = llm.tokenize(text, add_bos=add_bos(llm), special=False)[:n]
    assert len(ids) == n, (len(ids), n)
    llm.reset()
    llm.eval(ids)
    nll = np.empty(n - 1)
    top1 = np.empty(n - 1, dtype=np.int64)
    margin = np.empty(n - 1)
    for i in range(0, n - 1, 64):  # in chunks: Gemma's 262144-wide rows are big
        j = min(n - 1, i + 64)
        lg = np.array(llm.scores[i:j, :], dtype=np.float32)
        assert np.isfinite(lg).all()
        top1[i:j] = lg.argmax(axis=1)
        top2 = np.partition(lg, -2, axis=1)[:, -2:]
        margin[i:j] = top2[:, 1].astype(np.float64) - top2[:, 0]
        l64 = lg.astype(np.float64)
        mx = l64.max(axis=1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(l64 - mx).sum(axis=1))
        nll[i:j] = lse - l64[np.arange(j - i), np.array(ids[i + 1:j + 1])]
    write_json(out_name, {
        "llama_cpp": version, "model": MODELS[key], "model_sha256": sha256_file(path),
        "text": "tests/data/text/austen.txt", "add_special": add_bos(llm),
        "settings": settings(llm, n_ctx, kv_f32),
        "mean_nll": float(nll.mean()), "ppl": float(np.exp(nll.mean())),
        "ids": ids,
        "nll": [float(f"{x:.9g}") for x in nll], "top1": [int(x) for x in top1],
        "top1_margin": [float(f"{x:.6g}") for x in margin]})
    print(f"{out_name}: mean nll {nll.mean():.5f} ppl {np.exp(nll.mean()):.4f}", file=sys.stderr)


def greedy(key, prompt, version, out_name):
    path = model_path(key)
    llm = load(key, 512)
    vocab = llm._model.vocab
    ids = llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos(llm), special=True)
    llm.reset()
    llm.eval(ids)
    out = []
    first_eog = None
    for i in range(N_GREEDY):
        last = np.array(llm.scores[llm.n_tokens - 1, :], dtype=np.float32)
        t = int(last.argmax())
        out.append(t)
        if first_eog is None and llama_cpp.llama_vocab_is_eog(vocab, t):
            first_eog = i
        llm.eval([t])
    text = llm.detokenize(out, special=True).decode("utf-8", errors="replace")
    write_json(out_name, {
        "llama_cpp": version, "model": MODELS[key], "model_sha256": sha256_file(path),
        "settings": settings(llm, 512), "prompt": prompt, "add_special": add_bos(llm),
        "parse_special": True, "prompt_ids": ids, "greedy_ids": out,
        "first_eog": first_eog, "greedy_text": text})
    print(f"{out_name}: {text!r}", file=sys.stderr)


def main():
    parts = set(sys.argv[1:]) or {"tokens", "smollm2", "gemma3"}
    version = llama_cpp_version()
    print(version, file=sys.stderr)
    if "tokens" in parts:
        tokens("smollm2", version)
        tokens("gemma3", version)
    if "smollm2" in parts:
        nll_eval("smollm2", 512, 512, version, "smollm2_austen512.json")
        nll_eval("smollm2", 512, 512, version, "smollm2_austen512_kvf32.json", kv_f32=True)
        greedy("smollm2", SMOLLM2_CHAT, version, "smollm2_greedy.json")
    if "gemma3" in parts:
        nll_eval("gemma3", 512, 512, version, "gemma3_austen512.json")
        nll_eval("gemma3", 2000, 2048, version, "gemma3_austen2000.json")
        greedy("gemma3", GEMMA3_CHAT, version, "gemma3_greedy.json")


if __name__ == "__main__":
    main()
