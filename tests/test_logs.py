"""The library's one logger: silent for a Python user until an entry point configures it, then plain lines whose
amount -q/-v set; progress bars that write a line every few seconds when their stream is a file."""

import io
import logging

import pytest

from robust_speech.core import logs


@pytest.fixture(autouse=True)
def fresh_logger():
    saved = (list(logs.LOGGER.handlers), logs.LOGGER.level, logs.LOGGER.propagate)
    logs.LOGGER.handlers.clear()
    yield
    logs.LOGGER.handlers[:], logs.LOGGER.level, logs.LOGGER.propagate = saved[0], saved[1], saved[2]


def test_configured_messages_print_as_plain_lines_at_the_chosen_level(capsys):
    logs.configure_logging(0)
    logs.configure_logging(0)  # idempotent: still one line per message
    logs.LOGGER.info("kept 3 clips")
    logs.LOGGER.debug("hidden detail")
    assert capsys.readouterr().out == "kept 3 clips\n"
    logs.configure_logging(1)
    logs.LOGGER.debug("shown detail")
    assert capsys.readouterr().out == "shown detail\n"
    logs.configure_logging(-1)
    logs.LOGGER.info("quiet")
    logs.LOGGER.warning("still said")
    assert capsys.readouterr() == ("", "still said\n")  # warnings on stderr, as notes always were


def test_an_unconfigured_library_says_nothing_below_a_warning(capsys):
    logs.LOGGER.setLevel(logging.NOTSET)
    logs.LOGGER.propagate = True
    logs.LOGGER.info("not for a library user")
    captured = capsys.readouterr()
    assert "not for a library user" not in captured.out + captured.err


def test_a_progress_bar_into_a_file_refreshes_every_few_seconds_not_every_step():
    stream = io.StringIO()
    bar = logs.progress_bar(range(5000), file=stream, desc="work")
    assert bar.mininterval == logs.FILE_REFRESH_S
    for _ in bar:
        pass
    # Start and end only: 5000 quick steps inside one refresh interval.
    assert stream.getvalue().count("work") <= 3


def test_a_progress_bar_on_a_terminal_keeps_tqdms_refresh():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    bar = logs.progress_bar(range(3), file=Terminal())
    assert bar.mininterval < logs.FILE_REFRESH_S
    bar.close()


def test_datasets_bars_are_off_in_a_log_file_and_restored_after(monkeypatch):
    import datasets
    from datasets.utils import are_progress_bars_disabled

    monkeypatch.setattr(datasets.config, "HF_DATASETS_DISABLE_PROGRESS_BARS", None)
    monkeypatch.setattr(logs, "is_terminal", lambda stream=None: False)
    assert not are_progress_bars_disabled()
    with logs.datasets_bars_on_terminals_only():
        assert are_progress_bars_disabled()
    assert not are_progress_bars_disabled()
    monkeypatch.setattr(logs, "is_terminal", lambda stream=None: True)
    with logs.datasets_bars_on_terminals_only():
        assert not are_progress_bars_disabled()


def test_rendered_copies_draw_no_datasets_bar_into_a_log_file(tmp_path, monkeypatch):
    import datasets
    from datasets.utils import are_progress_bars_disabled

    from robust_speech.audio.augment import Augmenter, AugmentOptions
    from robust_speech.training import multi_condition

    monkeypatch.setenv("ROBUST_SPEECH_CACHE", str(tmp_path))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_DISABLE_PROGRESS_BARS", None)
    monkeypatch.setattr(logs, "is_terminal", lambda stream=None: False)
    rendering, render = [], multi_condition._render_copy
    monkeypatch.setattr(multi_condition, "_render_copy",
                        lambda *args: rendering.append(are_progress_bars_disabled()) or render(*args))
    audio = [{"array": [0.1] * 1600, "sampling_rate": 16000, "path": "clip.wav"}]
    dataset = datasets.Dataset.from_dict({"audio": audio, "sentence": ["a"], "duration": [0.1]})
    rendered = multi_condition.render_copies(dataset, Augmenter(AugmentOptions({"gain": 1.0})), 1, log=lambda line: None)
    assert len(rendered) == 2 and rendering == [True] and not are_progress_bars_disabled()
