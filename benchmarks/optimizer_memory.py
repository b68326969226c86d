#!/usr/bin/env python
"""Optimizer state memory: AdamW (torch) against 8-bit AdamW (bitsandbytes, as run_speech_recognition_ctc_bnb.py
uses it) on the same model after one step, plus each process's peak RSS. Goal: 8-bit state <= 0.3x."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import ROOT, markdown_table, peak_memory, print_machine, save

from robust_speech.model.random_models import MODEL_SHAPES as SHAPES

CHILD = """
import json, resource, sys, torch
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC
shape, kind, device = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
torch.manual_seed(0)
model = Wav2Vec2ForCTC(Wav2Vec2Config(**shape, vocab_size=40)).to(device)
model.freeze_feature_encoder()
parameters = [p for p in model.parameters() if p.requires_grad]
if kind == "adamw":
    optimizer = torch.optim.AdamW(parameters, lr=1e-4)
else:
    import bitsandbytes as bnb
    optimizer = bnb.optim.AdamW8bit(parameters, lr=1e-4)
audio = torch.randn(2, 32000, device=device)
labels = torch.randint(1, 40, (2, 12), device=device)
model(audio, labels=labels).loss.backward()
optimizer.step()
state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t))
print(json.dumps({"state_mb": state / 2**20, "parameters_m": sum(p.numel() for p in parameters) / 1e6,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if device != "cpu" else None}))
"""


def measure(shape: dict, kind: str, device: str) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(shape), kind, device], capture_output=True, text=True,
                            cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(SHAPES), default="base")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print_machine()
    shape = SHAPES[args.model]
    adamw, eight_bit = measure(shape, "adamw", args.device), measure(shape, "adamw8bit", args.device)
    ratio = eight_bit["state_mb"] / adamw["state_mb"]
    where = "GPU" if adamw["peak_gpu_mb"] is not None else "RSS"
    rows = [[name, f"{r['state_mb']:.1f} MB", f"{r['state_mb'] / adamw['state_mb']:.2f}x", f"{peak_memory(r):.0f} MB"]
            for name, r in (("AdamW (torch)", adamw), ("AdamW8bit (bitsandbytes)", eight_bit))]
    table = markdown_table(["optimizer", "state", "state ratio", f"peak {where}"], rows)
    print(f"model: {args.model} ({adamw['parameters_m']:.1f}M trainable parameters)")
    print(table)
    save(f"optimizer_memory_{args.model}", {"model": args.model, "adamw": adamw, "adamw8bit": eight_bit,
                                            "state_ratio": ratio, "table": table})


if __name__ == "__main__":
    main()
