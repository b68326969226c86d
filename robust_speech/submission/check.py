"""`robust-speech check-submission DIR`: the model folder checked the way the organizers will, as a checklist.

Each line is ✓ or ✗ with the fix in one line; warnings (what the guide only recommends) never fail. The topics
live in their own modules: the model card (`check_card`), eval.py (`check_eval_script`), the normalizer
(`check_normalizer`), damaged files, loading, weights, pickles and credentials (`check_loading`), Common Voice test sentences
in training (`check_leakage`) and the re-run of eval.py (`check_rerun`). Only the normalizer check (eval.py's
`normalize_text`) and `--rerun` (eval.py itself) run the folder's code, each in a separate process, and the
checklist says so; eval.py's flags and `log_results` are read from its syntax tree, never run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from robust_speech.core.errors import ConfigurationError
from robust_speech.submission.checklist import CheckReport, failed


@dataclass(frozen=True)
class CheckOptions:
    folder: str
    # Text files (one sentence a line) whose words the normalizer audit reads instead of the recorded transcripts.
    text: Sequence[str] = ()
    # A Common Voice release folder (or its language folder): none of its test sentences may be in training.
    common_voice: str | None = None
    # Re-run eval.py on this many examples of each result file's split and compare (0: no re-run).
    rerun: int = 0
    # Run the folder's eval.py `normalize_text` (a separate process); False: apply text_normalizer.json instead.
    run_code: bool = True


def check_submission(options: CheckOptions) -> CheckReport:
    """Every check on `options.folder`; the report's `failures` decide the exit status."""
    from robust_speech.data.training_text import read_training_text
    from robust_speech.submission import (
        check_card,
        check_eval_script,
        check_leakage,
        check_loading,
        check_normalizer,
        check_rerun,
    )

    folder = Path(options.folder)
    if not folder.is_dir():
        raise ConfigurationError(f"{folder} is not a folder: give the model folder (the repository to push)")
    report = CheckReport(folder)
    try:
        recorded = read_training_text(folder)
    except ConfigurationError as error:
        recorded = None
        report.lines.append(failed("training_text.json.gz reads", "train again to write it", str(error)))
    report.lines += check_card.check_card(folder, recorded)
    report.lines += check_eval_script.check_eval_script(folder)
    report.lines += check_normalizer.check_normalizer(folder, recorded, options.text, run_code=options.run_code)
    report.lines += check_loading.check_damaged(folder)  # before loading: KenLM may crash on a damaged binary
    report.lines += check_loading.check_loading(folder)
    report.lines += check_loading.check_files(folder)
    if options.common_voice:
        report.lines += check_leakage.check_common_voice(folder, recorded, options.common_voice)
    if options.rerun:
        report.lines += check_rerun.check_rerun(folder, options.rerun)
    return report
