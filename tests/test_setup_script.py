"""scripts/install_system_deps.sh, as `make setup` runs it, with fake dpkg-query/id/apt-get on PATH."""

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install_system_deps.sh"
SPEECH = ["espeak-ng", "fortunes", "fortunes-de", "fortunes-es", "fortunes-it", "fortunes-pl", "fortunes-cs"]
KENLM_BUILD = ["cmake", "g++", "make", "libboost-program-options-dev", "libboost-system-dev",
               "libboost-thread-dev", "libboost-test-dev", "zlib1g-dev"]
RUNTIME = ["libatomic1"]  # pedalboard's native module links against it
BROWSER = ["chromium", "chromium-driver"]  # the demo page's browser test (tests/test_serve.py)


def fake_tools(folder: Path, uid: int, installed: set[str]) -> dict:
    folder.mkdir()
    listed = " ".join(sorted(installed))
    (folder / "dpkg-query").write_text(
        f'#!/bin/bash\nfor p in {listed}; do [[ "${{@: -1}}" == "$p" ]] && echo -n "install ok installed" && exit 0; '
        'done\nexit 1\n'
    )
    (folder / "id").write_text(f"#!/bin/bash\necho {uid}\n")
    (folder / "apt-get").write_text(f'#!/bin/bash\necho "apt-get $*" >> {folder}/apt.log\n')
    for tool in folder.iterdir():
        tool.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}


def run(env):
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env)


def test_non_root_gets_the_exact_command_and_a_failure(tmp_path):
    result = run(fake_tools(tmp_path / "bin", uid=1000, installed={"fortunes", "cmake"}))
    assert result.returncode == 1
    expected = [p for p in SPEECH + KENLM_BUILD + RUNTIME + BROWSER if p not in ("fortunes", "cmake")]
    assert f"sudo apt-get install -y {' '.join(expected)}" in result.stderr
    assert not (tmp_path / "bin" / "apt.log").exists()


def test_root_installs_only_what_is_missing(tmp_path):
    everything = set(SPEECH + KENLM_BUILD + RUNTIME + BROWSER) - {"fortunes-cs"}
    result = run(fake_tools(tmp_path / "bin", uid=0, installed=everything))
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "bin" / "apt.log").read_text().splitlines()
    assert log[0].startswith("apt-get update")
    assert log[1].endswith("install -y -qq --no-install-recommends fortunes-cs")


def test_nothing_to_do_when_all_are_installed(tmp_path):
    everything = set(SPEECH + KENLM_BUILD + RUNTIME + BROWSER)
    result = run(fake_tools(tmp_path / "bin", uid=0, installed=everything))
    assert result.returncode == 0 and result.stdout == ""
    assert not (tmp_path / "bin" / "apt.log").exists()
