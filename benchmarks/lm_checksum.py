#!/usr/bin/env python
"""What the LM checksum costs a load, and what the quick path (size and modification time) saves.

    python benchmarks/lm_checksum.py
    python benchmarks/lm_checksum.py --size_mib 1024 --lm_sentences 500000

Two measurements, each against a reference taken in the same run:

1. A 1 GiB file with a KenLM header, installed as a model folder's `language_model/5gram.bin` with its checksum
   recorded (`core.folder_check.record_checksums`): SHA-256 of it (`file_sha256`, what every load paid before),
   against reading it (1 MiB blocks, from the page cache after a first read); and the checks a load runs
   (`find_damaged_files(model=False)`) on the quick path (size and modification time as recorded) and with
   `hash_all=True` (check-submission).
2. A real KenLM binary (3-gram, lmplz over random sentences of a Zipf vocabulary): its load as pyctcdecode does it
   (`kenlm.Model(path)`), against the SHA-256 of the same file. Both scale with the file's size, so the ratio
   says what hashing adds to a load of a multi-GB 5-gram too.

Writes benchmarks/results/lm_checksum_<device>.json and .md. Page-cached files throughout: a cold read from
disk slows reading, hashing and loading alike.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RESULTS, device_tag, markdown_table, print_machine, save, spread, timed

from robust_speech.core.folder_check import KENLM_MAGIC, file_sha256, find_damaged_files, record_checksums
from robust_speech.core.model_folder import LM_DIRECTORY

BLOCK = 1 << 20


def read_all(path: Path) -> int:
    total = 0
    with open(path, "rb") as file:
        while block := file.read(BLOCK):
            total += len(block)
    return total


def write_big_file(path: Path, size_mib: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        file.write(KENLM_MAGIC.ljust(BLOCK, b"\0"))
        for _ in range(size_mib - 1):
            file.write(rng.bytes(BLOCK))


def file_checks(folder: Path, size_mib: int, repeats: int, seed: int) -> dict:
    name = f"{LM_DIRECTORY}/5gram.bin"
    path = folder / name
    write_big_file(path, size_mib, seed)
    record_checksums(folder, [name])
    read_all(path)  # into the page cache
    read, _ = timed(lambda: read_all(path), repeats)
    hashed, _ = timed(lambda: file_sha256(path), repeats)
    quick, found = timed(lambda: find_damaged_files(folder, model=False), repeats)
    assert found == []
    full, found = timed(lambda: find_damaged_files(folder, model=False, hash_all=True), repeats)
    assert found == []
    return {"size_bytes": path.stat().st_size, "read": read, "sha256": hashed, "load_check_quick": quick,
            "load_check_hash_all": full, "sha256_over_read": hashed["median_s"] / read["median_s"],
            "quick_over_sha256": quick["median_s"] / hashed["median_s"]}


def random_sentences(count: int, seed: int, vocabulary: int = 20000, words: int = 12) -> list[str]:
    rng = np.random.default_rng(seed)
    names = [f"w{index}" for index in range(vocabulary)]
    ids = np.minimum(rng.zipf(1.1, size=(count, words)), vocabulary) - 1
    return [" ".join(names[i] for i in row) for row in ids]


def kenlm_load(work: Path, sentences: int, repeats: int, seed: int) -> dict:
    import kenlm

    from robust_speech.lm.ngram import NgramOptions, build_arpa, build_binary

    options = NgramOptions(order=3)
    started = time.perf_counter()
    arpa = build_arpa(random_sentences(sentences, seed), work / "3gram.arpa", options, progress=lambda _line: None)
    binary = build_binary(arpa, work / "3gram.bin", options, progress=lambda _line: None)
    arpa.unlink()
    built_s = time.perf_counter() - started
    read_all(binary)
    loaded, model = timed(lambda: kenlm.Model(str(binary)), repeats)
    assert model.order == 3
    hashed, _ = timed(lambda: file_sha256(binary), repeats)
    return {"sentences": sentences, "size_bytes": binary.stat().st_size, "built_s": built_s, "kenlm_load": loaded,
            "sha256": hashed, "sha256_over_load": hashed["median_s"] / loaded["median_s"]}


def report(files: dict, lm: dict) -> str:
    gib = files["size_bytes"] / (1 << 30)
    rows = [
        ["read (page cache)", spread(files["read"], 1e3, "ms"), "1.00"],
        ["SHA-256 (`file_sha256`)", spread(files["sha256"], 1e3, "ms"), f"{files['sha256_over_read']:.2f}"],
        ["load check, quick path", spread(files["load_check_quick"], 1e3, "ms"),
         f"{files['load_check_quick']['median_s'] / files['read']['median_s']:.5f}"],
        ["load check, `hash_all` (check-submission)", spread(files["load_check_hash_all"], 1e3, "ms"),
         f"{files['load_check_hash_all']['median_s'] / files['read']['median_s']:.2f}"],
    ]
    lm_rows = [
        ["`kenlm.Model(path)` (pyctcdecode's load)", spread(lm["kenlm_load"], 1e3, "ms"), "1.00"],
        ["SHA-256 of the same file", spread(lm["sha256"], 1e3, "ms"), f"{lm['sha256_over_load']:.2f}"],
    ]
    return "\n".join([
        "# LM checksum cost (`python benchmarks/lm_checksum.py`)", "",
        f"A {gib:.2f} GiB file installed as `language_model/5gram.bin` with its checksum recorded:", "",
        markdown_table(["what", "time", "vs reading the file"], rows), "",
        f"A real KenLM 3-gram binary of {lm['size_bytes'] / 1e6:.1f} MB ({lm['sentences']} random sentences, "
        f"built in {lm['built_s']:.0f} s):", "",
        markdown_table(["what", "time", "vs loading it"], lm_rows), "",
        f"Hashing runs at {files['size_bytes'] / files['sha256']['median_s'] / 1e9:.2f} GB/s here: a 5 GB 5-gram "
        f"costs about {5e9 / files['size_bytes'] * files['sha256']['median_s']:.0f} s of hashing per load without "
        "the quick path.", "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size_mib", type=int, default=1024, help="size of the file hashed, MiB")
    parser.add_argument("--lm_sentences", type=int, default=500000, help="random sentences of the real KenLM")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random bytes and sentences")
    args = parser.parse_args()
    print_machine()
    with tempfile.TemporaryDirectory(prefix="lm-checksum-") as work:
        files = file_checks(Path(work) / "model", args.size_mib, args.repeats, args.seed)
    with tempfile.TemporaryDirectory(prefix="lm-checksum-kenlm-") as work:
        lm = kenlm_load(Path(work), args.lm_sentences, args.repeats, args.seed)
    text = report(files, lm)
    print(text)
    save("lm_checksum", {"settings": vars(args), "file": files, "kenlm": lm})
    (RESULTS / f"lm_checksum_{device_tag()}.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
