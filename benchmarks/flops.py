#!/usr/bin/env python
"""How far from the hardware: the forward pass's achieved FLOP/s (FLOPs per audio second counted by torch's
FlopCounterMode, divided by measured forward time) against this machine's measured fp32 matmul FLOP/s."""

from __future__ import annotations

import argparse

import torch
from common import markdown_table, print_machine, save, spread, timed

from robust_speech.model.random_models import MODEL_SHAPES as SHAPES


def matmul_flops(device: str, size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b  # warm up
    stats, _ = timed(lambda: a @ b, repeats)
    return 2 * size**3 / stats["min_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="base,tiny")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (fp32 on both; TF32 off, as PyTorch's default)")
    args = parser.parse_args()
    print_machine()
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    peak = matmul_flops(args.device)
    rows, results = [], {}
    audio = torch.randn(1, int(args.seconds * 16000), device=args.device)
    for name in args.models.split(","):
        model = Wav2Vec2ForCTC(Wav2Vec2Config(**SHAPES[name], vocab_size=40)).eval().to(args.device)
        with torch.no_grad():  # inference_mode breaks the weight-norm parametrization under the counter
            counter = FlopCounterMode(display=False)
            with counter:
                model(audio)
            flops = counter.get_total_flops()
            model(audio)  # warm up
            stats, _ = timed(lambda: model(audio), args.repeats)
        achieved = flops / stats["median_s"]
        results[name] = {"gflops_per_audio_second": flops / args.seconds / 1e9, "forward": stats,
                         "achieved_gflops": achieved / 1e9, "fraction_of_matmul_peak": achieved / peak,
                         "rtf": stats["median_s"] / args.seconds}
        rows.append([name, f"{flops / args.seconds / 1e9:.2f}", spread(stats), f"{achieved / 1e9:.1f}",
                     f"{achieved / peak:.0%}"])
    table = markdown_table(["model", "GFLOP per audio s", f"forward of {args.seconds:.0f} s audio",
                            "achieved GFLOP/s", "of matmul peak"], rows)
    print(f"measured fp32 matmul peak on {args.device}: {peak / 1e9:.1f} GFLOP/s ({torch.get_num_threads()} CPU threads)")
    print(table)
    save("flops", {"matmul_peak_gflops": peak / 1e9, "results": results, "table": table})


if __name__ == "__main__":
    main()
