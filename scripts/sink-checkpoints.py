#!/usr/bin/env python3
"""Gu et al.'s Sink_1 on 64-token samples at every checkpoint a long run has
committed (README, issue 13), and the head that leans most on the first token.

    python3 scripts/sink-checkpoints.py --text TEXT_DIR/austen_all.txt runs/softmax runs/sigmoid

A run's log evaluates on 256-token samples; Gu et al. measure on 64-token
ones, where uniform attention gives the first token more (alpha 0.074). Each
run's step directories are taken from the git history (every one a session
committed, extracted to a temporary directory) and from the working tree, and
each is measured by `sinkstream sinks -T 64 --samples 100 -t 1 --json`.
Prints one Markdown table: per run and step, Sink_1 (%), the mean alpha_1
over (layer, head), and the head with the largest alpha_1, with the share of
samples in which it exceeds epsilon. --json FILE also writes every head's
alpha_1 and share per run and step.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

SAMPLES, TOKENS = 100, 64   # Gu et al.'s measure: samples of 64 tokens
STEP_TOKENS = 2048          # tokens per training step (batch 8 x context 256)


def git(*args):
    r = subprocess.run(["git", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"sink-checkpoints.py: git {args[0]}: {r.stderr.strip()}")
    return r.stdout


def checkpoints(run):
    """{step: (commit or None, directory in the repository)} of one run."""
    found = {}
    log = git("log", "--no-renames", "--diff-filter=A", "--name-only", "--format=commit %h", "--", run)
    commit = None
    for line in log.splitlines():
        if line.startswith("commit "):
            commit = line.split()[1]
            continue
        m = re.fullmatch(rf"({re.escape(os.path.normpath(run))}/step-(\d+))/model\.safetensors", line)
        if m and int(m.group(2)) not in found:
            found[int(m.group(2))] = (commit, m.group(1))
    for name in os.listdir(run):
        m = re.fullmatch(r"step-(\d+)", name)
        if m and os.path.exists(os.path.join(run, name, "model.safetensors")):
            found[int(m.group(1))] = (None, os.path.join(run, name))
    return dict(sorted(found.items()))


def materialise(commit, path, tmp):
    if commit is None:
        return path
    out = os.path.join(tmp, commit + "-" + path.replace("/", "-"))
    os.makedirs(out, exist_ok=True)
    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        with open(os.path.join(out, f), "wb") as o:
            o.write(subprocess.run(["git", "show", f"{commit}:{path}/{f}"], capture_output=True,
                                   check=True).stdout)
    return out


def measure(binary, model, text, tmp):
    js = os.path.join(tmp, "sinks.json")
    subprocess.run([binary, "sinks", "-m", model, "-t", "1", "--no-progress", "--text", text,
                    "--samples", str(SAMPLES), "-T", str(TOKENS), "--max-k", "1", "--json", js],
                   check=True, stdout=subprocess.DEVNULL)
    with open(js) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="RUN", help="a run directory under git, e.g. runs/softmax")
    ap.add_argument("--text", required=True, help="UTF-8 text the samples are drawn from")
    ap.add_argument("--bin", default="build/sinkstream", help="the sinkstream binary")
    ap.add_argument("--json", metavar="FILE", help="also write every head's figures here")
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"sink-checkpoints.py: {a.bin} is not an executable (build first, or --bin)")
    out = []
    print("| run | step | tokens | Sink_1 | mean α_1 | strongest head | its α_1 | its share > ε |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for run in a.runs:
            name = os.path.basename(os.path.normpath(run))
            found = checkpoints(run)
            if not found:
                sys.exit(f"sink-checkpoints.py: {run} has no step-N/model.safetensors, committed or here")
            for step, (commit, path) in found.items():
                j = measure(a.bin, materialise(commit, path, tmp), a.text, tmp)
                heads = [(l, h, j["alpha"][l][h][0], j["above_epsilon"][l][h][0])
                         for l in range(len(j["alpha"])) for h in range(len(j["alpha"][l]))]
                mean = sum(x[2] for x in heads) / len(heads)
                l, h, alpha, share = max(heads, key=lambda x: x[2])
                print(f"| {name} | {step:,} | {step * STEP_TOKENS / 1e6:.1f}M | {j['sink'][0]:.2f}% | "
                      f"{mean:.3f} | layer {l} head {h} | {alpha:.3f} | {100 * share:.0f}% |",
                      flush=True)
                out.append({"run": name, "step": step, "tokens": step * STEP_TOKENS, "sink1": j["sink"][0],
                            "mean_alpha1": mean,
                            "alpha1": [[x[0] for x in layer] for layer in j["alpha"]],
                            "share_above_epsilon": [[x[0] for x in layer]
                                                    for layer in j["above_epsilon"]]})
    print(f"\nuniform α_1 = {j['alpha_uniform'][0]:.3f}; ε = {j['epsilon']}; "
          f"{SAMPLES} samples of {TOKENS} tokens (BOS first) from {os.path.basename(a.text)}")
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"text": os.path.basename(a.text), "samples": SAMPLES, "tokens_per_sample": TOKENS,
                       "alpha1_uniform": j["alpha_uniform"][0], "epsilon": j["epsilon"],
                       "checkpoints": out}, f, indent=1)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
