"""CLI latency: wall time of everyday `daert` commands, this checkout against another, same run.

    daert up && .venv/bin/python -m eval.bench.cli [--other PATH] [--runs 5] [--skip-ask]

Each command runs as its own process, the way a user types it, with that checkout's
`.venv/bin/daert`, the checkout as working directory and the current environment (so
DAERT_DATA_DIR, DAERT_CONFIG and the like reach both). Measured:
  --help, status, memory list, threads list, cache stats: wall time to exit;
  ask "QUESTION" --no-cache: time to the first non-whitespace byte of the answer on stdout
    (progress goes to stderr), and time to exit; killed after --timeout seconds.
The checkouts take turns, the first one swapped every run, so that a busy moment of the
machine hits both alike; the ask runs come after the others, so the threads they create do
not change what `threads list` has to list mid-benchmark. One untimed `daert --help` per
checkout first warms the disk cache and compiles bytecode. The table gives median and min
per checkout, every exit code seen (a nonzero one also prints the end of its stderr), and
the ratio of the medians, other / this: above 1 means this checkout is faster.

Also per checkout: tracked files (git ls-files) and upward imports, lines matching
`^\\s*(from|import) daert` in .py files under agents, tools, knowledge, memory, graphs and
core, i.e. lower layers importing the app shell.

Needs the embedded services of the data dir (`daert up`); the script checks with
`daert status --json` and starts nothing itself. Each ask run makes a new thread there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

HERE = Path(__file__).resolve().parents[2]
QUESTION = "Say hello in one short sentence."
COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "status": ["status"],
    "memory list": ["memory", "list"],
    "threads list": ["threads", "list"],
    "cache stats": ["cache", "stats"],
}
LOWER_LAYERS = ("agents", "tools", "knowledge", "memory", "graphs", "core")
UPWARD_IMPORT = re.compile(r"^\s*(?:from|import)\s+daert\b")
STDERR_TAIL_LINES = 12

out = Console()
err = Console(stderr=True)


@dataclass(frozen=True)
class Sample:
    """One process: seconds to exit, to the first visible output byte, and how it ended."""

    seconds: float
    returncode: int | None  # None: killed after the timeout
    first_output: float | None = None
    stderr_tail: str = ""


@dataclass(frozen=True)
class Summary:
    """Median and min over the runs of one command in one checkout, and the exits seen."""

    median: float | None
    minimum: float | None
    exits: tuple[int | None, ...]

    @property
    def failed(self) -> bool:
        return any(code != 0 for code in self.exits)


def summarize(values: list[float | None], exits: list[int | None]) -> Summary:
    """Median and min of the values present (a run with no first token has None)."""
    present = [v for v in values if v is not None]
    if not present:
        return Summary(None, None, tuple(exits))
    return Summary(statistics.median(present), min(present), tuple(exits))


def ratio(other: float | None, this: float | None) -> float | None:
    if other is None or this is None or this <= 0:
        return None
    return other / this


def exits_text(exits: tuple[int | None, ...]) -> str:
    """`0`, or each distinct exit with its count when any run ended otherwise."""
    if all(code == 0 for code in exits):
        return "0"
    labels = ["timeout" if code is None else str(code) for code in exits]
    return ", ".join(f"{label} x{labels.count(label)}" for label in dict.fromkeys(labels))


def count_upward_imports(root: Path) -> dict[str, int]:
    """Lines importing `daert` in the .py files of each lower-layer directory that exists."""
    counts: dict[str, int] = {}
    for name in LOWER_LAYERS:
        folder = root / name
        if not folder.is_dir():
            continue
        counts[name] = sum(
            1
            for path in folder.rglob("*.py")
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
            if UPWARD_IMPORT.match(line)
        )
    return counts


def tracked_files(root: Path) -> int | None:
    """Files in git's index (`git ls-files`), None when the path is not a git checkout."""
    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=False
    )
    if done.returncode != 0:
        return None
    return len([name for name in done.stdout.split(b"\0") if name])


def commit_of(root: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


def _tail(data: bytes) -> str:
    lines = data.decode("utf-8", errors="replace").rstrip().splitlines()
    return "\n".join(lines[-STDERR_TAIL_LINES:])


def time_command(argv: list[str], cwd: Path, timeout: float) -> Sample:
    """Wall time of one process from launch to exit, output captured and dropped."""
    began = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as timed_out:
        return Sample(time.perf_counter() - began, None, None, _tail(timed_out.stderr or b""))
    seconds = time.perf_counter() - began
    return Sample(seconds, done.returncode, None, _tail(done.stderr) if done.returncode else "")


def time_streamed(argv: list[str], cwd: Path, timeout: float) -> Sample:
    """Wall time to the first non-whitespace byte on stdout, and to exit (killed at timeout).

    stdout is read unbuffered as bytes; stderr goes to a file, so a chatty process cannot
    block on a full pipe.
    """
    with tempfile.TemporaryFile() as stderr:
        began = time.perf_counter()
        deadline = began + timeout
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            bufsize=0,
        )
        assert process.stdout is not None
        first: float | None = None
        fd = process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while (left := deadline - time.perf_counter()) > 0 and selector.select(left):
                chunk = os.read(fd, 65536)
                if not chunk:  # end of file: the process closed stdout, normally at exit
                    break
                if first is None and chunk.strip():
                    first = time.perf_counter() - began
        code: int | None
        try:
            code = process.wait(max(0.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        seconds = time.perf_counter() - began
        process.stdout.close()
        stderr.seek(0)
        tail = _tail(stderr.read()) if code != 0 else ""
    return Sample(seconds, code, first, tail)


@dataclass(frozen=True)
class Checkout:
    label: str
    root: Path

    @property
    def daert(self) -> Path:
        return self.root / ".venv" / "bin" / "daert"


def services_down(checkout: Checkout) -> str | None:
    """Why the embedded services are not usable, or None when every one of them runs."""
    try:
        done = subprocess.run(
            [str(checkout.daert), "status", "--json"],
            cwd=checkout.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return "`daert status --json` did not answer within 60 s"
    if done.returncode != 0:
        return f"`daert status --json` exited {done.returncode}:\n{done.stderr[-2000:]}"
    try:
        services: dict[str, dict[str, Any] | None] = json.loads(done.stdout)
    except ValueError:
        return f"`daert status --json` printed no JSON:\n{done.stdout[-2000:]}"
    stopped = [name for name, s in services.items() if not s or s.get("state") != "running"]
    return f"not running: {', '.join(stopped)}" if stopped else None


def measure(
    checkouts: list[Checkout], runs: int, ask_runs: int, question: str, timeout: float
) -> dict[str, dict[str, list[Sample]]]:
    """Samples per checkout label and command; the checkouts alternate, first one swapped."""
    found: dict[str, dict[str, list[Sample]]] = {c.label: {} for c in checkouts}
    for checkout in checkouts:  # untimed warm-up: disk cache, bytecode
        time_command([str(checkout.daert), "--help"], checkout.root, timeout)
    for run in range(runs):
        err.print(f"[dim]run {run + 1}/{runs}[/]")
        order = checkouts if run % 2 == 0 else checkouts[::-1]
        for name, args in COMMANDS.items():
            for checkout in order:
                sample = time_command([str(checkout.daert), *args], checkout.root, timeout)
                found[checkout.label].setdefault(name, []).append(sample)
    for run in range(ask_runs):
        err.print(f"[dim]ask {run + 1}/{ask_runs}[/]")
        order = checkouts if run % 2 == 0 else checkouts[::-1]
        for checkout in order:
            argv = [str(checkout.daert), "ask", question, "--no-cache"]
            sample = time_streamed(argv, checkout.root, timeout)
            found[checkout.label].setdefault("ask", []).append(sample)
    return found


def rows(samples: dict[str, list[Sample]]) -> dict[str, Summary]:
    """Summaries per table row; ask gives two rows, first token and total."""
    summaries: dict[str, Summary] = {}
    for name, taken in samples.items():
        exits = [s.returncode for s in taken]
        if name == "ask":
            summaries["ask: first token"] = summarize([s.first_output for s in taken], exits)
            summaries["ask: total"] = summarize([s.seconds for s in taken], exits)
        else:
            summaries[name] = summarize([s.seconds for s in taken], exits)
    return summaries


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _exits(summary: Summary) -> str:
    text = exits_text(summary.exits)
    return f"[red]{text}[/]" if summary.failed else text


def latency_table(this: dict[str, Summary], other: dict[str, Summary] | None) -> Table:
    table = Table(title="daert CLI latency, seconds", title_justify="left")
    table.add_column("command")
    for label in ("this", "other") if other is not None else ("this",):
        table.add_column(f"{label} median", justify="right")
        table.add_column(f"{label} min", justify="right")
        table.add_column(f"{label} exit", justify="right")
    if other is not None:
        table.add_column("other / this", justify="right")
    for name, mine in this.items():
        cells = [name, _seconds(mine.median), _seconds(mine.minimum), _exits(mine)]
        if other is not None:
            theirs = other[name]
            found = ratio(theirs.median, mine.median)
            cells += [_seconds(theirs.median), _seconds(theirs.minimum), _exits(theirs)]
            cells.append("—" if found is None else f"{found:.2f}x")
        table.add_row(*cells)
    return table


def structure_table(checkouts: list[Checkout], facts: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="structure", title_justify="left")
    for column in ("checkout", "commit", "tracked files", "upward imports", "path"):
        table.add_column(column, justify="right" if column in {"tracked files"} else "left")
    for checkout in checkouts:
        known = facts[checkout.label]
        files = known["tracked_files"]
        upward = known["upward_imports"]
        detail = ", ".join(f"{k} {v}" for k, v in upward.items() if v)
        table.add_row(
            checkout.label,
            known["commit"],
            "—" if files is None else str(files),
            f"{sum(upward.values())}" + (f" ({detail})" if detail else ""),
            str(checkout.root),
        )
    return table


def failures(found: dict[str, dict[str, list[Sample]]]) -> list[str]:
    """The stderr tail of the last failed run of each command, per checkout."""
    reports = []
    for label, samples in found.items():
        for name, taken in samples.items():
            failed = [s for s in taken if s.returncode != 0]
            if failed:
                last = failed[-1]
                how = "timed out" if last.returncode is None else f"exited {last.returncode}"
                reports.append(
                    f"[bold]{label}: {name}[/] {how}; stderr ends:\n"
                    f"{escape(last.stderr_tail) or '(empty)'}"
                )
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m eval.bench.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--other",
        type=Path,
        metavar="PATH",
        help="another checkout of daert, with its own PATH/.venv/bin/daert",
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="runs of each quick command (default: 5)"
    )
    parser.add_argument(
        "--ask-runs",
        type=int,
        default=None,
        help="runs of `daert ask` (default: 3, or --runs if fewer)",
    )
    parser.add_argument("--skip-ask", action="store_true", help="leave `daert ask` out")
    parser.add_argument(
        "--question", default=QUESTION, help="what to ask; keep it to the plain chat route"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds before a command is killed and counted as timed out (default: 120)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw numbers")
    args = parser.parse_args()
    if args.runs < 1 or (args.ask_runs is not None and args.ask_runs < 1):
        parser.error("--runs and --ask-runs take a number of runs, 1 or more")
    ask_runs = min(3, args.runs) if args.ask_runs is None else args.ask_runs
    if args.skip_ask:
        ask_runs = 0

    checkouts = [Checkout("this", HERE)]
    if args.other is not None:
        checkouts.append(Checkout("other", args.other.resolve()))
    for checkout in checkouts:
        if not checkout.daert.is_file():
            raise SystemExit(
                f"{checkout.daert} does not exist: run `make setup` in "
                f"{checkout.root} first, or pass another --other"
            )
    why = services_down(checkouts[0])
    if why is not None:
        raise SystemExit(
            f"the embedded services are not up ({why}).\n"
            "Run `daert up` first (and `daert down` when done)."
        )

    facts = {
        c.label: {
            "root": str(c.root),
            "commit": commit_of(c.root),
            "tracked_files": tracked_files(c.root),
            "upward_imports": count_upward_imports(c.root),
        }
        for c in checkouts
    }
    found = measure(checkouts, args.runs, ask_runs, args.question, args.timeout)
    summaries = {label: rows(samples) for label, samples in found.items()}

    out.print(structure_table(checkouts, facts))
    out.print(latency_table(summaries["this"], summaries.get("other")))
    for report in failures(found):
        out.print(report)
    if args.json is not None:
        raw = {
            label: {
                **facts[label],
                "samples": {name: [asdict(s) for s in taken] for name, taken in samples.items()},
            }
            for label, samples in found.items()
        }
        args.json.write_text(json.dumps(raw, indent=2), encoding="utf-8")
        out.print(f"raw numbers in {args.json}")


if __name__ == "__main__":
    main()
