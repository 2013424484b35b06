#!/usr/bin/env python3
"""A PyTorch peer for `sinkstream_bench --only train` (issue 13).

Builds the bench's training model in PyTorch from the config.json of a
checkpoint that `sinkstream train` writes for the same shape, loads that
checkpoint's weights, and checks that the parameters (names, shapes, count)
and the NLL of one sample equal sinkstream's. Then, thread count by thread
count, it runs `sinkstream_bench --only train -t N` and times the same
training step in PyTorch in the same process environment: batch 8 x 256
random bytes, forward, backward, gradient-norm clip 1.0, AdamW (lr 1e-3 on
the bench's cosine schedule, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on
matrices and the embedding only), zero_grad; best of several steps after one
warm-up step, as the bench does.

It installs nothing; it needs PyTorch (see bench/README.md). Not part of CI.
"""

import argparse
import ctypes
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as e:
    sys.exit(f"torch_peer: {sys.executable} cannot import PyTorch ({e}); see bench/README.md")

# The model of train_section in bench/bench_decode.cpp.
LAYERS, DIM, HEADS, HIDDEN, CTX, BATCH = 4, 256, 4, 688, 256, 8
# The optimiser of ss::OptimOptions, with the bench's 1000 steps.
LR, MIN_LR_RATIO, SCHEDULE_STEPS = 1e-3, 0.1, 1000
BETAS, EPS, WEIGHT_DECAY, CLIP = (0.9, 0.95), 1e-8, 0.1, 1.0
BYTES = 256  # the bench samples random bytes
SDPA = hasattr(F, "scaled_dot_product_attention")  # PyTorch 2.0 on


def fail(message):
    sys.exit(f"torch_peer: {message}")


def run(cmd):
    """Runs cmd in this process's environment; its stdout, or a one-line failure."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if p.returncode != 0:
        last = (p.stderr.strip() or p.stdout.strip() or "no output").splitlines()[-1]
        fail(f"{Path(cmd[0]).name} exited with {p.returncode}: {last}")
    return p.stdout, p.stderr


# ---- sinkstream's side ----------------------------------------------------------


def reference_checkpoint(cli, workdir):
    """A 1-step `sinkstream train` checkpoint of the bench's shape: its directory,
    the parameter count the CLI printed, and the NLL `sinkstream ppl` gives one
    sample of random bytes through it (dense cache, no BOS)."""
    rng = random.Random(1)
    text = workdir / "text.txt"
    words = ("".join(rng.choice("abcdefgh") for _ in range(5)) for _ in range(1000))
    text.write_text(" ".join(words))
    out = workdir / "run"
    _, err = run([cli, "train", "--dim", DIM, "--layers", LAYERS, "--heads", HEADS,
                  "--hidden", HIDDEN, "--ctx", CTX, "--batch", 1, "--steps", 1,
                  "--eval-every", 0, "--val-fraction", 0, "--no-progress", "-t", 1,
                  "--text", text, "--out", out])
    m = re.search(r"model: (\d+) parameters, (\d+) layers, dim (\d+)", err)
    if not m or (int(m[2]), int(m[3])) != (LAYERS, DIM):
        fail(f"sinkstream train printed no model line for {LAYERS} layers, dim {DIM}: {err!r}")
    sample = [rng.randrange(BYTES) for _ in range(CTX)]
    ids = workdir / "ids.txt"
    ids.write_text(" ".join(map(str, sample)))
    summary = workdir / "ppl.json"
    run([cli, "ppl", "-m", out / "latest", "--ids", ids, "--no-bos", "--policy", "dense",
         "--no-progress", "-t", 1, "--json", summary])
    return out / "latest", int(m[1]), sample, json.loads(summary.read_text())["nll"]


def bench_train(bench, threads, quick):
    """sinkstream_bench --only train -t threads: its train heading, its SIMD and
    OpenBLAS line, and its row for `threads` threads by column name."""
    out, _ = run([bench, "--only", "train", "-t", threads] + (["--quick"] if quick else []))
    lines = out.splitlines()
    heading = next((x for x in lines if x.startswith("== train:")), None)
    simd = next((x for x in lines if x.startswith("SIMD target")), "")
    header = next((i for i, x in enumerate(lines) if x.split()[:1] == ["threads"]), None)
    if heading is None or header is None:
        fail(f"{bench}: no train table in its output")
    names = re.split(r"\s{2,}", lines[header].strip())
    for line in lines[header + 1:]:
        values = line.split()
        if len(values) == len(names) and values[0] == str(threads):
            row = dict(zip(names, (float(v.rstrip("%")) for v in values)))
            return heading, simd, row
    fail(f"{bench}: no row for {threads} threads in its train table")


def check_bench_model(heading, n_params):
    """The bench's heading describes the model this script builds."""
    m = re.search(r"(\d+) layers, dim (\d+), ctx (\d+), SwiGLU (\d+), byte vocab, batch (\d+) "
                  r"\((\d+) parameters", heading)
    if not m or tuple(map(int, m.groups()[:5])) != (LAYERS, DIM, CTX, HIDDEN, BATCH):
        fail(f"the bench trains another model than this script: {heading!r}")
    if int(m[6]) != n_params:
        fail(f"the bench's model has {int(m[6]):,} parameters, this script's {n_params:,}")


def linked_openblas(binary):
    """The OpenBLAS file a binary loads (ldd), resolved."""
    out, _ = run(["ldd", binary])
    m = re.search(r"libopenblas\S*\s+=>\s+(\S+)", out)
    return os.path.realpath(m[1]) if m else "no OpenBLAS"


# ---- PyTorch's side -------------------------------------------------------------


def load_safetensors(path):
    """name -> float32 tensor of a safetensors file of F32 tensors."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    tensors = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            fail(f"{path}: {name} is {t['dtype']}, not F32")
        begin, end = (8 + n + o for o in t["data_offsets"])
        tensors[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32)
        tensors[name] = tensors[name].reshape(t["shape"])
    return tensors


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x, cos, sin):
    """RoPE, rotate-half pairs (i, i + d/2); x is (batch, heads, T, head_dim)."""
    x0, x1 = x.chunk(2, dim=-1)
    return torch.cat((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads, self.head_dim = c["num_attention_heads"], c["head_dim"]
        d, q = c["hidden_size"], self.heads * self.head_dim
        self.q_proj = nn.Linear(d, q, bias=False)
        self.k_proj = nn.Linear(d, q, bias=False)
        self.v_proj = nn.Linear(d, q, bias=False)
        self.o_proj = nn.Linear(q, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape

        def heads(y):
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q = rotate(heads(self.q_proj(x)), cos, sin)
        k = rotate(heads(self.k_proj(x)), cos, sin)
        v = heads(self.v_proj(x))
        if SDPA:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
            causal = torch.ones(t, t, dtype=torch.bool).triu(1)
            y = scores.masked_fill(causal, float("-inf")).softmax(-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(b, t, -1))


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(d, h, bias=False)
        self.up_proj = nn.Linear(d, h, bias=False)
        self.down_proj = nn.Linear(h, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["norm_eps"])
        self.mlp = Mlp(c)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["norm_eps"])


class Model(nn.Module):
    """The sinkstream family with the switches the bench uses: pre-norm RMSNorm,
    RoPE, causal softmax attention, SwiGLU, tied embeddings, no biases. Parameter
    names are the checkpoint's (src/model/params.cpp)."""

    def __init__(self, c):
        super().__init__()
        self.model = Decoder(c)
        hd, ctx = c["head_dim"], c["max_position_embeddings"]
        # As ss::rope_angles: pos * theta^(-2i/head_dim) in double, then float.
        inv = c["rope_theta"] ** (-2.0 * torch.arange(hd // 2, dtype=torch.float64) / hd)
        angles = torch.arange(ctx, dtype=torch.float64)[:, None] * inv
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin = self.cos[:t], self.sin[:t]
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return F.linear(self.model.norm(x), self.model.embed_tokens.weight)


def loss_of(model, ids):
    """Mean next-token NLL over targets ids[:, 1:], as the trainer's loss."""
    logits = model(ids)[:, :-1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


# What Model implements; anything else in config.json must be off.
EXPECTED = {"model_type": "sinkstream", "norm": "rmsnorm", "hidden_act": "silu",
            "gated_ffn": True, "position": "rope", "attn_op": "softmax", "post_norm": False,
            "attn_logn_bias": False, "attn_gate": False, "kv_bias": False,
            "sink_logits": False, "prefix_lm": 0, "sliding_window": 0,
            "tie_word_embeddings": True}


def build_model(checkpoint, n_params):
    """Model from checkpoint/config.json with the checkpoint's weights, checked
    against it name by name and against the CLI's parameter count."""
    c = json.loads((checkpoint / "config.json").read_text())
    wrong = {k: c.get(k) for k, v in EXPECTED.items() if c.get(k) != v}
    if wrong or c["num_key_value_heads"] != c["num_attention_heads"]:
        fail(f"{checkpoint}/config.json has switches this script does not build: {wrong}")
    model = Model(c)
    weights = load_safetensors(checkpoint / "model.safetensors")
    ours = {k: tuple(v.shape) for k, v in weights.items()}
    theirs = {k: tuple(p.shape) for k, p in model.named_parameters()}
    if ours != theirs:
        fail(f"parameters differ: checkpoint only {sorted(ours.items() - theirs.items())}, "
             f"PyTorch only {sorted(theirs.items() - ours.items())}")
    total = sum(p.numel() for p in model.parameters())
    if total != n_params:
        fail(f"PyTorch has {total:,} parameters, sinkstream {n_params:,}")
    model.load_state_dict(weights)
    return model


def lr_at(step):
    """ss::OptimOptions::lr_at without warmup: cosine from LR to MIN_LR_RATIO * LR."""
    floor = LR * MIN_LR_RATIO
    t = min(1.0, step / SCHEDULE_STEPS)
    return floor + (LR - floor) * 0.5 * (1 + math.cos(math.pi * t))


def torch_train(model, threads, steps):
    """Best seconds of a training step on `threads` threads, over `steps` steps
    after one warm-up step, and the losses of the first and last step."""
    torch.set_num_threads(threads)
    decay = [p for p in model.parameters() if p.dim() >= 2]  # matrices, embedding
    gains = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": gains, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS)
    gen = torch.Generator().manual_seed(threads)
    best, losses = math.inf, []
    for step in range(steps + 1):
        t0 = time.perf_counter()
        ids = torch.randint(0, BYTES, (BATCH, CTX), generator=gen)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = loss_of(model, ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step > 0:
            best = min(best, time.perf_counter() - t0)
        losses.append(loss.item())
    return best, losses[0], losses[-1]


def torch_blas():
    """What PyTorch computes with: its build's BLAS settings, and the OpenBLAS
    file this process mapped (with that library's own config and core)."""
    shown = torch.__config__.show()
    settings = dict(re.findall(r"(\w+)=([^,\s]+)", shown))
    capability = re.search(r"CPU capability usage: (\S+)", shown)
    torch.ones(64, 64) @ torch.ones(64, 64)  # a GEMM maps the BLAS library
    with open("/proc/self/maps") as f:
        files = {os.path.realpath(x.split()[-1]) for x in f if "/libopenblas" in x}
    blas = []
    for path in sorted(files):
        lib = ctypes.CDLL(path)
        lib.openblas_get_config.restype = lib.openblas_get_corename.restype = ctypes.c_char_p
        blas.append(f"{path} ({lib.openblas_get_config().decode()}, "
                    f"core {lib.openblas_get_corename().decode()})")
    summary = (f"BLAS_INFO={settings.get('BLAS_INFO')}, MKL {torch.backends.mkl.is_available()}, "
               f"oneDNN {torch.backends.mkldnn.is_available()} (USE_MKLDNN="
               f"{settings.get('USE_MKLDNN')}), CPU capability "
               f"{capability[1] if capability else '?'}")
    return summary, files, blas


def main():
    cpus = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=Path, default=Path("build/bench/sinkstream_bench"),
                    help="sinkstream_bench (default: %(default)s)")
    ap.add_argument("--cli", type=Path,
                    help="the sinkstream CLI (default: sinkstream beside the bench's folder)")
    ap.add_argument("--threads", default=",".join(sorted({"1", str(cpus)})),
                    help="comma-separated thread counts (default: %(default)s)")
    ap.add_argument("--steps", type=int, help="timed PyTorch steps (default: 6, 3 with --quick)")
    ap.add_argument("--quick", action="store_true", help="the bench's --quick; 3 timed steps")
    a = ap.parse_args()
    if not re.fullmatch(r"[1-9]\d*(,[1-9]\d*)*", a.threads):
        ap.error(f"--threads takes comma-separated counts of at least 1, got '{a.threads}'")
    threads = [int(t) for t in a.threads.split(",")]
    steps = a.steps if a.steps is not None else 3 if a.quick else 6
    if steps < 1:
        ap.error(f"--steps must be at least 1, got {steps}")
    cli = a.cli or a.bench.resolve().parent.parent / "sinkstream"
    for exe in (a.bench, cli):
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            ap.error(f"{exe} is not an executable (build it, or pass --bench / --cli)")

    env = {k: v for k, v in sorted(os.environ.items())
           if k.startswith(("OMP_", "GOMP_", "OPENBLAS_", "MKL_", "KMP_"))}
    print(f"environment (passed to both unchanged): {env or 'no OMP/OpenBLAS variables'}")
    print(f"PyTorch {torch.__version__}: attention "
          f"{'F.scaled_dot_product_attention' if SDPA else 'explicit (QK^T, mask, softmax, PV)'}")
    summary, torch_files, blas = torch_blas()
    print(f"PyTorch BLAS: {summary}")
    for line in blas or ["no OpenBLAS mapped"]:
        print(f"  {line}")
    ours_blas = linked_openblas(a.bench)
    same = "the same file" if torch_files == {ours_blas} else "NOT the file PyTorch maps"
    print(f"sinkstream_bench OpenBLAS: {ours_blas} ({same})")

    with tempfile.TemporaryDirectory(prefix="torch_peer.") as tmp:
        checkpoint, n_params, sample, nll = reference_checkpoint(cli, Path(tmp))
        model = build_model(checkpoint, n_params)
    with torch.no_grad():
        torch_nll = loss_of(model, torch.tensor([sample])).item()
    if abs(torch_nll - nll) > 1e-4:
        fail(f"the models differ: NLL of one sample {torch_nll:.6f} (PyTorch), {nll:.6f} (ours)")
    print(f"model: {n_params:,} parameters in both (names and shapes equal); NLL of one sample "
          f"through the checkpoint {nll:.6f} (sinkstream ppl) vs {torch_nll:.6f} (PyTorch)")

    tokens = BATCH * CTX
    rows, headings = [], set()
    for n in threads:
        load = os.getloadavg()[0]
        heading, bench_line, ours = bench_train(a.bench, n, a.quick)
        headings.add(heading)
        seconds, first, last = torch_train(model, n, steps)
        rows.append((n, ours["tok/s"], tokens / seconds, load, first, last))
    for heading in headings:
        check_bench_model(heading, n_params)

    print(f"\nsinkstream_bench: {bench_line}")
    print(f"training step, batch {BATCH} x {CTX} = {tokens} tokens; best of the bench's steps "
          f"and of {steps} PyTorch steps, each after 1 warm-up")
    print(f"{'threads':>8} {'sinkstream tok/s':>17} {'PyTorch tok/s':>14} {'ratio':>7} "
          f"{'load avg':>9} {'torch loss first/last':>22}")
    for n, ours, theirs, load, first, last in rows:
        print(f"{n:>8} {ours:>17.0f} {theirs:>14.0f} {ours / theirs:>6.2f}x {load:>9.2f} "
              f"{first:>10.4f} / {last:.4f}")
    print("ratio: sinkstream over PyTorch (issue 13's goal: >= 1.5x)")


if __name__ == "__main__":
    main()
