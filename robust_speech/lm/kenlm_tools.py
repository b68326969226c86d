"""KenLM's `lmplz` and `build_binary`: from PATH, or built once from the kenlm sdist on PyPI into the cache.

No Debian package or PyPI wheel ships these two programs (the `kenlm` wheel is only the Python query module),
and the blog recipe users follow compiles them by hand. Here the first call downloads the same source
distribution pip would (`pip download --no-binary :all: --no-deps kenlm`), configures it with cmake and builds
just the two targets (a minute or so), then every later call finds them in
`<cache>/kenlm/bin`. A missing compiler or library is named with the Debian package that provides it; a
package index that cannot be reached (or holds no kenlm) is one line naming the ways out, after one retry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from robust_speech.core.errors import MissingDependencyError, RobustSpeechError
from robust_speech.core.paths import cache_root

PROGRAMS = ("lmplz", "build_binary")
# What the build needs, and the Debian package that provides it (named in the error when absent).
BUILD_TOOLS = {"cmake": "cmake", "g++": "g++", "make": "make"}
BUILD_HEADERS = {
    "boost/program_options.hpp": "libboost-program-options-dev",
    "boost/system/error_code.hpp": "libboost-system-dev",
    "boost/thread.hpp": "libboost-thread-dev",
    "boost/test/unit_test.hpp": "libboost-test-dev",
    "zlib.h": "zlib1g-dev",
}
HEADER_DIRS = ("/usr/include", "/usr/local/include")


class KenLMError(RobustSpeechError):
    """lmplz or build_binary failed, or they could not be built."""


@dataclass(frozen=True)
class KenLMPrograms:
    lmplz: Path
    build_binary: Path


def kenlm_dir() -> Path:
    return cache_root() / "kenlm"


def find_programs() -> KenLMPrograms | None:
    """The programs on PATH, else in the cache; None when neither has both."""
    on_path = [shutil.which(name) for name in PROGRAMS]
    if all(on_path):
        return KenLMPrograms(*(Path(path) for path in on_path))
    cached = [kenlm_dir() / "bin" / name for name in PROGRAMS]
    if all(path.is_file() and os.access(path, os.X_OK) for path in cached):
        return KenLMPrograms(*cached)
    return None


def kenlm_programs(progress=print) -> KenLMPrograms:
    """`lmplz` and `build_binary`, building them into the cache the first time.

    The build holds a lock in the cache: processes that start together (two `build_ngram.py`, parallel test
    workers on a fresh machine) build once, and the others wait and then find the programs."""
    found = find_programs()
    if found is not None:
        return found
    destination = kenlm_dir()
    destination.mkdir(parents=True, exist_ok=True)
    with FileLock(destination / ".build.lock"):
        return find_programs() or build_from_source(destination, progress=progress)


def missing_build_requirements() -> list[str]:
    """Debian packages to install before KenLM can be built (empty when everything is there)."""
    missing = [package for tool, package in BUILD_TOOLS.items() if shutil.which(tool) is None]
    for header, package in BUILD_HEADERS.items():
        if not any(Path(folder, header).is_file() for folder in HEADER_DIRS):
            missing.append(package)
    return missing


def build_from_source(destination: Path, *, jobs: int | None = None, progress=print) -> KenLMPrograms:
    """Download the kenlm sdist, build lmplz and build_binary, install them into `destination/bin`."""
    missing = missing_build_requirements()
    if missing:
        raise MissingDependencyError(
            f"building KenLM's lmplz needs: {', '.join(missing)}; install them (sudo apt-get install -y "
            f"{' '.join(missing)}) or put lmplz and build_binary on PATH"
        )
    destination.mkdir(parents=True, exist_ok=True)
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="kenlm-build-", dir=destination) as work:
        work = Path(work)
        progress("KenLM: lmplz is not installed; building it once from the kenlm source on PyPI (about a minute)")
        archive_path = download_source(work)
        with tarfile.open(archive_path) as archive:
            archive.extractall(work / "src", filter="data")
        source = next((work / "src").iterdir())
        progress(f"KenLM: configuring {source.name}")
        _run(["cmake", "-S", str(source), "-B", str(work / "build"), "-DCMAKE_BUILD_TYPE=Release"], work, "cmake")
        progress(f"KenLM: compiling lmplz and build_binary with {jobs} jobs")
        _run(["cmake", "--build", str(work / "build"), "--target", *PROGRAMS, "--", f"-j{jobs}"], work, "compiling")
        bin_dir = destination / "bin"
        staging = Path(tempfile.mkdtemp(prefix=".bin-", dir=destination))
        for name in PROGRAMS:
            shutil.copy2(work / "build" / "bin" / name, staging / name)
        if bin_dir.exists():
            shutil.rmtree(bin_dir)
        os.replace(staging, bin_dir)
    progress(f"KenLM: installed lmplz and build_binary in {bin_dir}")
    return KenLMPrograms(bin_dir / "lmplz", bin_dir / "build_binary")


# What pip prints when the package index cannot be reached at all (no network, a firewall, a dead mirror).
UNREACHABLE_SIGNS = {
    "connection refused": "connection refused", "newconnectionerror": "no connection",
    "failed to establish a new connection": "no connection", "name or service not known": "the host name is unknown",
    "temporary failure in name resolution": "no name resolution", "network is unreachable": "network unreachable",
    "no route to host": "no route to host", "timed out": "timed out", "proxyerror": "the proxy refused",
    "certificate verify failed": "its TLS certificate was refused", "connection aborted": "connection aborted",
    "connection reset": "connection reset", "remotedisconnected": "the server closed the connection",
}
NO_SOURCE_ADVICE = ("put KenLM's lmplz and build_binary on PATH, or let pip reach PyPI (or a mirror named in "
                    "PIP_INDEX_URL) and run again")
# A small sdist: a stalled index should fail within about a minute, not after pip's default 5 retries.
DOWNLOAD_OPTIONS = ("--retries", "1", "--timeout", "20")


def download_source(work: Path) -> Path:
    """The kenlm sdist, downloaded as pip would (`pip download --no-binary :all: --no-deps kenlm`) into
    `work/download`. When that fails (the package index unreachable, no kenlm there), one line says why and the
    two ways out: lmplz on PATH, or pip allowed to reach PyPI."""
    download = work / "download"
    log = work / "download.log"
    command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "--no-build-isolation",
               *DOWNLOAD_OPTIONS, "kenlm", "-d", str(download)]
    with open(log, "w", encoding="utf-8") as output:
        result = subprocess.run(command, cwd=work, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    archives = sorted(download.glob("kenlm-*.tar.gz"))
    if result.returncode == 0 and archives:
        return archives[0]
    text = log.read_text(encoding="utf-8", errors="replace")
    lowered = text.lower()
    signs = list(dict.fromkeys(reason for sign, reason in UNREACHABLE_SIGNS.items() if sign in lowered))
    if signs:
        why = f"the package index cannot be reached ({', '.join(signs)})"
    else:
        errors = [line.removeprefix("ERROR:").strip() for line in text.splitlines() if line.startswith("ERROR:")]
        why = errors[-1] if errors else (f"pip exit {result.returncode}" if result.returncode else "no kenlm-*.tar.gz")
    raise KenLMError(f"KenLM's lmplz is not installed and pip could not download the kenlm source to build it: {why}; "
                     f"{NO_SOURCE_ADVICE}")


def _run(command: list[str], cwd: Path, what: str) -> None:
    log = cwd / "build.log"
    with open(log, "a", encoding="utf-8") as output:
        result = subprocess.run(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise KenLMError(f"KenLM build failed while {what} (exit {result.returncode}): {' | '.join(tail)}")
