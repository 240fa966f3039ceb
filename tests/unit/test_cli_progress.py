"""The progress bar draws only on a terminal, so logs and pipes stay clean."""

from __future__ import annotations

import io

from sla_digest_cli.cli import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_draws_pages_done_of_total_on_one_line() -> None:
    stream = Terminal()
    bar = ProgressBar(stream, "account 7")
    bar(10, 40)
    bar(40, 40)
    bar.close()
    text = stream.getvalue()
    assert "10/40 pages" in text
    assert "40/40 pages" in text
    assert text.count("\n") == 1  # redrawn with carriage returns, one newline at the end
    assert "[" + "#" * 30 + "]" in text


def test_nothing_is_written_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, "account 7")
    bar(10, 40)
    bar.close()
    assert stream.getvalue() == ""
