#!/usr/bin/env python3
"""The long runs' evaluations as one Markdown table (README, issue 13).

    python3 scripts/sink-emergence-table.py runs/softmax runs/sigmoid

Reads RUN/log.jsonl of each run (sinkstream train's log) and prints, per
evaluation step, the validation loss, Sink_1 (%) and alpha_1 of every run.
"""
import json
import os
import sys


def evals(run):
    with open(os.path.join(run, "log.jsonl")) as f:
        return {j["step"]: j for j in map(json.loads, f) if "val_loss" in j}


def main():
    runs = sys.argv[1:]
    if not runs:
        sys.exit("usage: sink-emergence-table.py RUN [RUN ...]")
    logs = [evals(r) for r in runs]
    names = [os.path.basename(os.path.normpath(r)) for r in runs]
    head = ["step", "tokens"] + [f"{n} {c}" for n in names for c in ("val loss", "Sink_1", "α_1")]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for step in sorted(set().union(*logs)):
        cells = [f"{step:,}", f"{step * 2048 / 1e6:.1f}M"]
        for log in logs:
            e = log.get(step)
            cells += [f"{e['val_loss']:.3f}", f"{e['sink'][0]:.1f}%", f"{e['alpha1']:.3f}"] if e \
                else ["", "", ""]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
