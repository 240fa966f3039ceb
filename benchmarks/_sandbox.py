"""The sandbox in a process of its own, as Chatwoot would be: its CPU and memory are not ours.

``SandboxProcess(events=..., latency=...)`` starts ``python -m benchmarks._sandbox`` with the
options as JSON; the child serves on a free port of 127.0.0.1, prints the base URL, and stops
when its stdin closes, so it never outlives the benchmark even if the benchmark is killed.
:meth:`SandboxProcess.stats` asks it for its request counters (a line ``stats`` on its stdin,
one JSON line back), so a benchmark can count what a run asked of the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime, time, timedelta
from typing import IO, TYPE_CHECKING, Any

from sla_digest.window import Window, report_window
from sla_digest_cli.sandbox.server import SandboxOptions

from . import ROOT, BenchmarkError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["SandboxProcess", "report_day"]

_START_TIMEOUT = 120.0


def report_day(options: SandboxOptions | None = None) -> Window:
    """The sandbox's report day, whatever today's date is."""
    options = options if options is not None else SandboxOptions()
    after = datetime.combine(options.day + timedelta(days=2), time(12), tzinfo=UTC)
    return report_window(options.day, options.timezone, now=after)


class SandboxProcess:
    """A sandbox server in a child process; ``with`` gives its base URL."""

    def __init__(self, **options: Any) -> None:
        self.options = SandboxOptions(**options)  # fails here, not in the child
        self._raw = json.dumps(options)
        self._process: subprocess.Popen[str] | None = None
        self._errors: IO[bytes] | None = None

    @property
    def token(self) -> str:
        return self.options.admin_token

    @property
    def window(self) -> Window:
        return report_day(self.options)

    def __enter__(self) -> str:
        self._errors = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._sandbox", self._raw],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            text=True,
            cwd=ROOT,
        )
        line = self._next_line(self._process)
        if not line.startswith("http://"):
            self._stop()
            raise BenchmarkError(f"the sandbox process did not start: {self._stderr()}")
        return line.strip()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def stats(self) -> dict[str, Any]:
        """The sandbox's request counters so far (``SandboxStats.snapshot`` without times)."""
        process = self._process
        if process is None or process.stdin is None:
            raise BenchmarkError("the sandbox process is not running")
        process.stdin.write("stats\n")
        process.stdin.flush()
        line = self._next_line(process)
        if not line.startswith("{"):
            raise BenchmarkError(f"the sandbox process gave no counters: {self._stderr()}")
        counters: dict[str, Any] = json.loads(line)
        return counters

    @staticmethod
    def _next_line(process: subprocess.Popen[str]) -> str:
        """The child's next line, or "" if it exits or stays silent (a thread: no hang)."""
        stdout = process.stdout
        assert stdout is not None
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(_START_TIMEOUT)
        return found[0] if found else ""

    def _stderr(self) -> str:
        if self._errors is None:
            return ""
        self._errors.seek(0)
        text = self._errors.read().decode(errors="replace").strip()
        return text.splitlines()[-1] if text else "no error output"

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(timeout=15)
            if process.stdout is not None:
                process.stdout.close()
        if self._errors is not None:
            self._errors.close()
            self._errors = None


def _main(raw: str) -> None:
    from sla_digest_cli.sandbox.server import SandboxServer

    with SandboxServer(SandboxOptions(**json.loads(raw))) as server:
        sys.stdout.write(server.base_url + "\n")
        sys.stdout.flush()
        # Each line "stats" is answered with the counters; the end of input (the parent is
        # done, or died) stops the server.
        for line in sys.stdin:
            if line.strip() == "stats":
                counters = server.stats.snapshot()
                del counters["request_times"]
                sys.stdout.write(json.dumps(counters) + "\n")
                sys.stdout.flush()


if __name__ == "__main__":
    _main(sys.argv[1])
