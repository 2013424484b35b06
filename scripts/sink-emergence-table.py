#!/usr/bin/env python3
"""The long runs' evaluations as one Markdown table (README, issue 13).

    python3 scripts/sink-emergence-table.py [--every STEPS] runs/softmax runs/sigmoid

Reads RUN/log.jsonl of each run (sinkstream train's log) and prints, per
evaluation step, the validation loss, Sink_1 (%) and alpha_1 of every run.
With --every, only the steps that are multiples of it, and each run's first
and last.
"""
import argparse
import json
import os


def evals(run):
    with open(os.path.join(run, "log.jsonl")) as f:
        return {j["step"]: j for j in map(json.loads, f) if "val_loss" in j}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="RUN", help="a `sinkstream train -o` directory")
    ap.add_argument("--every", type=int, default=1, metavar="STEPS",
                    help="only evaluations at multiples of this step (and each run's first and last)")
    a = ap.parse_args()
    if a.every < 1:
        ap.error("--every must be at least 1")
    logs = [evals(r) for r in a.runs]
    names = [os.path.basename(os.path.normpath(r)) for r in a.runs]
    ends = {f(log) for log in logs if log for f in (min, max)}
    steps = sorted(s for s in set().union(*logs) if s % a.every == 0 or s in ends)
    head = ["step", "tokens"] + [f"{n} {c}" for n in names for c in ("val loss", "Sink_1", "α_1")]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for step in steps:
        cells = [f"{step:,}", f"{step * 2048 / 1e6:.1f}M"]
        for log in logs:
            e = log.get(step)
            cells += [f"{e['val_loss']:.3f}", f"{e['sink'][0]:.1f}%", f"{e['alpha1']:.3f}"] if e \
                else ["", "", ""]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
