"""The layering of docs/architecture.md holds, and the contract that checks it can fail."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True)


@pytest.fixture()
def package_copy(tmp_path):
    """The package and its contracts in a scratch folder, for planting imports that break them."""
    shutil.copytree(ROOT / "robust_speech", tmp_path / "robust_speech", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_package_keeps_its_layers_and_has_no_import_cycle():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout
    assert "2 kept, 0 broken" in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_layers_contract(package_copy):
    # Inside a function, where import cycles used to hide.
    with open(package_copy / "robust_speech/data/sources.py", "a", encoding="utf-8") as module:
        module.write("\n\ndef _probe():\n    from robust_speech.inference.loading import load_for_inference\n\n"
                     "    return load_for_inference\n")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "Layers: a package imports only the layers below it BROKEN" in result.stdout
    assert "robust_speech.data.sources -> robust_speech.inference.loading" in result.stdout


def test_a_cycle_inside_one_package_breaks_the_acyclic_contract(package_copy):
    # engine imports groups; groups importing engine closes a cycle inside one layer.
    with open(package_copy / "robust_speech/evaluation/groups.py", "a", encoding="utf-8") as module:
        module.write("\n\ndef _probe():\n    from robust_speech.evaluation.engine import run_evaluation\n\n"
                     "    return run_evaluation\n")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "No import cycles between the modules of a package BROKEN" in result.stdout
    assert "Layers: a package imports only the layers below it KEPT" in result.stdout



def test_core_importing_the_model_layer_breaks_the_layers_contract(package_copy):
    # core is the foundation: errors, files, paths and the folder layout; the model layer sits above lm and data.
    with open(package_copy / "robust_speech/core/files.py", "a", encoding="utf-8") as module:
        module.write("\n\ndef _probe():\n    from robust_speech.model.fast_encoder import install\n\n    return install\n")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "robust_speech.core.files -> robust_speech.model.fast_encoder" in result.stdout


def test_the_model_layer_importing_training_breaks_the_layers_contract(package_copy):
    with open(package_copy / "robust_speech/model/building.py", "a", encoding="utf-8") as module:
        module.write("\n\ndef _probe():\n    from robust_speech.training.arguments import RecipeArguments\n\n"
                     "    return RecipeArguments\n")
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert "robust_speech.model.building -> robust_speech.training.arguments" in result.stdout
