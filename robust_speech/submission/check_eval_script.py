"""eval.py, read from its syntax tree (never run): the four fixed flags with their meaning, `log_results` as
the challenge's eval.py has it (but for the metric loading that no longer exists), and what differs under
`if __name__ == "__main__":` (warnings: the guide only recommends keeping it)."""

from __future__ import annotations

import ast
import difflib
from pathlib import Path

from robust_speech.core.model_folder import EVAL_SCRIPT
from robust_speech.submission.checklist import CheckLine, failed, passed, warned

# The challenge's eval.py (the Robust Speech Event's, in huggingface/transformers' research projects,
# Apache-2.0): the function the guide says should not be changed, and its command line.
REFERENCE_LOG_RESULTS = '''
def log_results(result: Dataset, args: Dict[str, str]):
    """DO NOT CHANGE. This function computes and logs the result metrics."""

    log_outputs = args.log_outputs
    dataset_id = "_".join(args.dataset.split("/") + [args.config, args.split])

    # load metric
    wer = load_metric("wer")
    cer = load_metric("cer")

    # compute metrics
    wer_result = wer.compute(references=result["target"], predictions=result["prediction"])
    cer_result = cer.compute(references=result["target"], predictions=result["prediction"])

    # print & log results
    result_str = f"WER: {wer_result}\\nCER: {cer_result}"
    print(result_str)

    with open(f"{dataset_id}_eval_results.txt", "w") as f:
        f.write(result_str)

    # log all results in text file. Possibly interesting for analysis
    if log_outputs is not None:
        pred_file = f"log_{dataset_id}_predictions.txt"
        target_file = f"log_{dataset_id}_targets.txt"

        with open(pred_file, "w") as p, open(target_file, "w") as t:

            # mapping function to write output
            def write_to_file(batch, i):
                p.write(f"{i}" + "\\n")
                p.write(batch["prediction"] + "\\n")
                t.write(f"{i}" + "\\n")
                t.write(batch["target"] + "\\n")

            result.map(write_to_file, with_indices=True)
'''

REFERENCE_MAIN = '''
if __name__ == "__main__":
    parser = argparse.ArgumentParser()

    parser.add_argument(
        "--model_id", type=str, required=True, help="Model identifier. Should be loadable with 🤗 Transformers"
    )
    parser.add_argument(
        "--dataset",
        type=str,
        required=True,
        help="Dataset name to evaluate the `model_id`. Should be loadable with 🤗 Datasets",
    )
    parser.add_argument(
        "--config", type=str, required=True, help="Config of the dataset. *E.g.* `'en'`  for Common Voice"
    )
    parser.add_argument("--split", type=str, required=True, help="Split of the dataset. *E.g.* `'test'`")
    parser.add_argument(
        "--chunk_length_s", type=float, default=None, help="Chunk length in seconds. Defaults to 5 seconds."
    )
    parser.add_argument(
        "--stride_length_s", type=float, default=None, help="Stride of the audio chunks. Defaults to 1 second."
    )
    parser.add_argument(
        "--log_outputs", action="store_true", help="If defined, write outputs to log file for analysis."
    )
    parser.add_argument(
        "--device",
        type=int,
        default=None,
        help="The device to run the pipeline on. -1 for CPU (default), 0 for the first GPU and so on.",
    )
    args = parser.parse_args()

    main(args)
'''

# The names the metric statements assign: the one part of log_results that may differ from the reference.
METRIC_NAMES = {"wer", "cer", "wer_result", "cer_result"}
# The ways to compute the same metrics: the reference's (datasets.load_metric, gone since datasets 3), its
# successor `evaluate.load`, and jiwer itself (what both metrics called); `list(...)` because a datasets 4
# column is no list.
ACCEPTED_METRICS = [
    REFERENCE_LOG_RESULTS,
    '''
wer = evaluate.load("wer")
cer = evaluate.load("cer")
wer_result = wer.compute(references=result["target"], predictions=result["prediction"])
cer_result = cer.compute(references=result["target"], predictions=result["prediction"])
''',
    '''
wer = load("wer")
cer = load("cer")
wer_result = wer.compute(references=result["target"], predictions=result["prediction"])
cer_result = cer.compute(references=result["target"], predictions=result["prediction"])
''',
    '''
wer_result = jiwer.wer(list(result["target"]), list(result["prediction"]))
cer_result = jiwer.cer(list(result["target"]), list(result["prediction"]))
''',
    '''
wer_result = jiwer.wer(result["target"], result["prediction"])
cer_result = jiwer.cer(result["target"], result["prediction"])
''',
]
# The flags the organizers call eval.py with, and what each must stay: a required string.
FIXED_FLAGS = ("model_id", "dataset", "config", "split")


def check_eval_script(folder: Path) -> list[CheckLine]:
    path = folder / EVAL_SCRIPT
    if not path.is_file():
        return [failed(f"{EVAL_SCRIPT} exists", "copy robust-speech's eval.py into the folder (training copies it); the "
                       "organizers run it to score the submission")]
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as error:
        return [failed(f"{EVAL_SCRIPT} parses as Python", "fix the syntax error", str(error))]
    return [passed(f"{EVAL_SCRIPT} exists and parses (read, not run)"), check_flags(tree), check_log_results(tree),
            *check_main(tree)]


# ---------------------------------------------------------------------------------------------------------
# The four flags


def check_flags(tree: ast.Module) -> CheckLine:
    what = f"{EVAL_SCRIPT} accepts --{' --'.join(FIXED_FLAGS)} with their meaning"
    calls = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            for argument in node.args:
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    calls[argument.value] = node
    read = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    problems = [problem for name in FIXED_FLAGS for problem in _flag_problems(name, calls.get(f"--{name}"), read)]
    if problems:
        return failed(what, "keep the four flags as the challenge's eval.py defines them (required strings, read as "
                      "args.model_id, args.dataset, args.config, args.split)", "\n".join(problems))
    return passed(what)


def _flag_problems(name: str, call: ast.Call | None, read: set[str]) -> list[str]:
    if call is None:
        return [f"--{name}: no such flag (renamed or removed?); the organizers pass it"]
    keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
    problems = []
    dest = keywords.get("dest")
    if dest is not None and not (isinstance(dest, ast.Constant) and dest.value == name):
        problems.append(f"--{name}: stored under another name (dest=...)")
    kind = keywords.get("type")
    if kind is not None and not (isinstance(kind, ast.Name) and kind.id == "str"):
        problems.append(f"--{name}: type is {ast.unparse(kind)}, not str")
    for changed in ("action", "nargs", "choices", "const"):
        if changed in keywords:
            problems.append(f"--{name}: {changed}={ast.unparse(keywords[changed])} changes what the flag takes")
    required = keywords.get("required")
    if not (isinstance(required, ast.Constant) and required.value is True):
        problems.append(f"--{name}: not required=True as in the challenge's eval.py")
    if name not in read:
        problems.append(f"--{name}: args.{name} is never read")
    return problems


# ---------------------------------------------------------------------------------------------------------
# log_results


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name), None)


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    is_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    return body[1:] if is_docstring else body


def _is_metric(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Assign) and all(
        isinstance(target, ast.Name) and target.id in METRIC_NAMES for target in statement.targets)


def _split_metrics(body: list[ast.stmt]) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """The body with its metric statements replaced by one `...` placeholder, and those statements."""
    rest, metrics, placed = [], [], False
    for statement in body:
        if _is_metric(statement):
            metrics.append(statement)
            if not placed:
                rest.append(ast.Expr(ast.Constant(Ellipsis)))
                placed = True
        else:
            rest.append(statement)
    return rest, metrics


def _dump(statements: list[ast.stmt]) -> str:
    return "\n".join(ast.dump(statement) for statement in statements)


def _accepted_metric_dumps() -> set[str]:
    dumps = set()
    for source in ACCEPTED_METRICS:
        tree = ast.parse(source)
        body = _without_docstring(tree.body[0].body) if isinstance(tree.body[0], ast.FunctionDef) else tree.body
        dumps.add(_dump([statement for statement in body if _is_metric(statement)]))
    return dumps


def check_log_results(tree: ast.Module) -> CheckLine:
    what = f"{EVAL_SCRIPT}: log_results is the challenge's (but for the metric loading that no longer exists)"
    fix = "restore log_results from the challenge's eval.py (or robust-speech's) and put any extra care outside it"
    reference = _function(ast.parse(REFERENCE_LOG_RESULTS), "log_results")
    found = _function(tree, "log_results")
    if found is None:
        return failed(what, fix, "eval.py has no top-level log_results function")
    expected_rest, expected_metrics = _split_metrics(_without_docstring(reference.body))
    found_rest, found_metrics = _split_metrics(_without_docstring(found.body))
    same_signature = ast.dump(found.args) == ast.dump(reference.args) and found.decorator_list == []
    same_rest = _dump(found_rest) == _dump(expected_rest)
    metrics_ok = _dump(found_metrics) in _accepted_metric_dumps()
    if same_signature and same_rest and metrics_ok:
        return passed(what)
    # The diff shows what differs besides an accepted metric computation (shown as the reference's then).
    shown = ast.parse(ast.unparse(found))
    if metrics_ok:
        function = shown.body[0]
        rest, _metrics = _split_metrics(function.body)
        index = next(i for i, statement in enumerate(rest) if isinstance(statement, ast.Expr)
                     and isinstance(statement.value, ast.Constant) and statement.value.value is Ellipsis)
        function.body = rest[:index] + expected_metrics + rest[index + 1:]
    diff = difflib.unified_diff(ast.unparse(reference).splitlines(), ast.unparse(shown).splitlines(),
                                "challenge's log_results", "eval.py's log_results", lineterm="", n=1)
    return failed(what, fix, _capped(diff))


def _capped(lines, limit: int = 40) -> str:
    lines = list(lines)
    more = f"\n... {len(lines) - limit} more lines" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


# ---------------------------------------------------------------------------------------------------------
# if __name__ == "__main__":


def _main_block(tree: ast.Module) -> ast.If | None:
    for node in tree.body:
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and isinstance(node.test.left, ast.Name)
                and node.test.left.id == "__name__"):
            return node
    return None


def check_main(tree: ast.Module) -> list[CheckLine]:
    found = _main_block(tree)
    if found is None:
        return [failed(f"{EVAL_SCRIPT} has `if __name__ == \"__main__\":`", "keep the challenge's command-line "
                       "block: the organizers run eval.py as a script")]
    reference = _main_block(ast.parse(REFERENCE_MAIN))
    if ast.dump(found) == ast.dump(reference):
        return []
    diff = difflib.unified_diff(ast.unparse(reference).splitlines(), ast.unparse(found).splitlines(),
                                "challenge's __main__ block", "eval.py's __main__ block", lineterm="", n=0)
    return [warned(f"{EVAL_SCRIPT}: the `if __name__ == \"__main__\":` block differs from the challenge's (the guide "
                   "recommends keeping it; the four flags are checked above)", detail=_capped(diff, 12))]
