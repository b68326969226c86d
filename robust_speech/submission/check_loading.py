"""What the organizers' machine does with the folder: load it with plain transformers (`AutoProcessor`,
`AutoModelForCTC`, no remote code) and its LM with pyctcdecode; and what the Hub shows of it: safetensors
weights, no pickle files, no tokens or credentials in any file."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

from robust_speech.core.errors import RobustSpeechError
from robust_speech.core.model_folder import CHECKSUMS_FILE, LM_DIRECTORY
from robust_speech.submission.checklist import CheckLine, failed, passed, relative, warned

PROCESSOR_WITH_LM = "Wav2Vec2ProcessorWithLM"
# The Trainer's pickled TrainingArguments (torch.save): no model code and never loaded by transformers'
# from_pretrained, so it is a warning rather than a failure; the Hub still marks it as a pickle.
TRAINER_PICKLES = ("training_args.bin",)
# Intermediate checkpoints are not pushed (training's upload leaves them out): not scanned.
NOT_PUSHED = re.compile(r"^(checkpoint-\d+|tmp-checkpoint-\d+)$")
# What a secret looks like: Hugging Face and GitHub tokens, AWS keys, private keys, and credential files.
SECRETS = {
    "a Hugging Face token": re.compile(rb"\bhf_[A-Za-z0-9]{30,}"),
    "a GitHub token": re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    "an AWS access key id": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "an AWS secret key": re.compile(rb"aws_secret_access_key\s*[=:]\s*\S{20,}", re.IGNORECASE),
    "a private key": re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
CREDENTIAL_FILES = (".netrc", "_netrc", ".git-credentials", "credentials", ".pypirc", "token", "stored_tokens")
# Files are read in blocks this large (with an overlap longer than any secret), so a multi-GB weight file is
# scanned in bounded memory.
SCAN_BLOCK = 1 << 24
SCAN_OVERLAP = 256


def check_loading(folder: Path) -> list[CheckLine]:
    """Plain transformers loads the processor and the model; the LM loads and its alphabet is the vocabulary's."""
    import transformers

    lines = []
    try:
        processor = transformers.AutoProcessor.from_pretrained(str(folder))
        transformers.AutoModelForCTC.from_pretrained(str(folder), use_safetensors=True)
        lines.append(passed(f"plain transformers loads it (AutoProcessor: {type(processor).__name__}, AutoModelForCTC)"))
    except Exception as error:  # noqa: BLE001 - whatever transformers raises is the finding, reported on one line
        processor = None
        lines.append(failed("plain transformers loads it (AutoProcessor, AutoModelForCTC)",
                            "save the folder with save_pretrained (training does) with safetensors weights",
                            f"{type(error).__name__}: {' '.join(str(error).split())[:400]}"))
    lines.append(_weights_line(folder))
    if (folder / LM_DIRECTORY).is_dir():
        lines.append(_lm_line(folder, processor))
    else:
        lines.append(warned(f"no {LM_DIRECTORY}/: decoded without an n-gram LM",
                            "build_ngram.py --model_dir DIR --text ... adds one (the guide's n-gram boosting)"))
    return lines


def check_damaged(folder: Path) -> list[CheckLine]:
    """Every file read as its reader will, the LM's files hashed whatever their modification time (a load hashes
    only a file whose size or modification time changed since build_ngram.py recorded them)."""
    from robust_speech.core.folder_check import KENLM_SUFFIXES, find_damaged_files, read_checksums

    what = f"no damaged file (configs parsed, every weight read, the LM's files hashed against {CHECKSUMS_FILE})"
    damaged = find_damaged_files(folder, scan_weights=True, hash_all=True)
    lines = [passed(what) if not damaged else failed(what, "each line below says what to do",
                                                     "\n".join(str(found) for found in damaged))]
    lm_files = [path for path in (folder / LM_DIRECTORY).glob("*") if path.suffix in KENLM_SUFFIXES]
    if lm_files and not read_checksums(folder):
        lines.append(warned(f"no {CHECKSUMS_FILE}: a damaged LM binary cannot be told from a sound one",
                            f"install the LM with build_ngram.py --model_dir {folder}, which records them"))
    return lines


def _weights_line(folder: Path) -> CheckLine:
    what = "the weights are safetensors"
    if list(folder.glob("*.safetensors")):
        return passed(what)
    pickled = sorted(path.name for path in folder.glob("pytorch_model*.bin"))
    return failed(what, "save_pretrained(..., safe_serialization=True) writes model.safetensors; delete the .bin",
                  f"found {', '.join(pickled)}" if pickled else "no *.safetensors file")


def _lm_line(folder: Path, processor) -> CheckLine:
    from robust_speech.inference.decoding import check_alphabet_matches

    what = "the LM loads and its alphabet matches vocab.json"
    fix = f"re-run build_ngram.py --model_dir {folder}"
    try:
        check_alphabet_matches(folder)
    except RobustSpeechError as error:
        return failed(what, fix, str(error))
    if processor is None:
        return failed(what, fix, "not loaded: transformers could not load the folder (above)")
    if type(processor).__name__ != PROCESSOR_WITH_LM or getattr(processor, "decoder", None) is None:
        return failed(what, fix, f"AutoProcessor gives {type(processor).__name__}: the pipeline would decode without the "
                      f"LM (the configs must name {PROCESSOR_WITH_LM})")
    return passed(what)


# ---------------------------------------------------------------------------------------------------------
# Every file of the folder


def pushed_files(folder: Path):
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(name for name in dirs if name != ".git" and not NOT_PUSHED.match(name))
        for name in sorted(files):
            yield Path(root) / name


def is_pickle(path: Path) -> bool:
    """A pickle, plain (protocol 2+ starts with 0x80 and the protocol) or in torch.save's zip (a data.pkl)."""
    with open(path, "rb") as file:
        head = file.read(2)
    if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head == b"PK" and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith(".pkl") for name in archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
    return path.suffix in (".pkl", ".pickle")


def secrets_in(path: Path) -> list[str]:
    """The kinds of secret found in the file (never the secret itself)."""
    found, tail = set(), b""
    with open(path, "rb") as file:
        while block := file.read(SCAN_BLOCK):
            data = tail + block
            found.update(kind for kind, pattern in SECRETS.items() if pattern.search(data))
            tail = data[-SCAN_OVERLAP:]
    return sorted(found)


def check_files(folder: Path) -> list[CheckLine]:
    pickles, trainer_pickles, secrets = [], [], []
    for path in pushed_files(folder):
        name = relative(folder, path)
        if path.name in CREDENTIAL_FILES:
            secrets.append(f"{name}: a credentials file")
        if path.is_symlink() or not path.is_file():
            continue
        if is_pickle(path):
            (trainer_pickles if path.name in TRAINER_PICKLES else pickles).append(name)
        secrets += [f"{name}: {kind}" for kind in secrets_in(path)]
    lines = [passed("no pickle files") if not pickles else failed(
        "no pickle files", "delete them (pickles run code when loaded; the Hub flags them): save weights as safetensors",
        "pickles: " + ", ".join(pickles))]
    if trainer_pickles:
        lines.append(warned(f"{', '.join(trainer_pickles)}: the Trainer's pickled arguments (never loaded by "
                            "from_pretrained)", "delete it before pushing if the repository should hold no pickle"))
    lines.append(passed("no tokens or credentials in any file") if not secrets else failed(
        "no tokens or credentials in any file", "delete the files or the secrets in them, and revoke the tokens",
        "\n".join(secrets)))
    return lines
