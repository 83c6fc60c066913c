"""The ``guardrail`` command: check one turn, scan a file, run the demo, serve the proxy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from guardrail.cli.render import demo_table, summary_table, verdict_panel
from guardrail.cli.review import calibrate_command, review_app
from guardrail.demo import DEMO_TURNS
from guardrail.guard import Guard
from guardrail.policy import PolicyError, load_policy
from guardrail.scan import ScanSummary, scan_lines
from guardrail.sinks import ReviewStoreError
from guardrail.types import Turn

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Score LLM replies for sentiment attenuation, granularity mismatch, conflict "
                       "avoidance and linguistic distancing.")
out = Console()
err = Console(stderr=True)

PolicyOption = Annotated[Optional[Path], typer.Option("--policy", "-p", help="Policy TOML file.")]  # noqa: UP045


def _guard(policy: Path | None, *, sinks: bool = False) -> Guard:
    """``sinks=True``: the policy's sinks (logs, GUARDRAIL_REVIEW_DB, GUARDRAIL_MQTT_URL); else none."""
    try:
        return Guard(load_policy(policy), sinks=None if sinks else [])
    except (PolicyError, ReviewStoreError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def check(
    user: Annotated[Optional[str], typer.Option(help="The user's message.")] = None,  # noqa: UP045
    response: Annotated[str, typer.Option(help="The reply to check.")] = "",
    source: Annotated[Optional[str], typer.Option(help="Source text (instead of --user).")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as one JSON line.")] = False,
    policy: PolicyOption = None,
) -> None:
    """Check one reply against the user's message (or a source text)."""
    try:
        turn = Turn(user=user, source=source, response=response)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    verdict = _guard(policy).check_turn(turn)
    if as_json:
        sys.stdout.write(verdict.model_dump_json() + "\n")
    else:
        out.print(verdict_panel(turn, verdict))


@app.command()
def scan(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT.jsonl", help="JSON Lines input ('-' = stdin).")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Where to write verdicts (default stdout).")] = None,  # noqa: UP045,E501
    policy: PolicyOption = None,
    fail_on_flag: Annotated[bool, typer.Option(help="Exit 1 when any turn is flagged.")] = False,
) -> None:
    """Scan a JSON Lines file of turns; one verdict line per input line, same order."""
    guard = _guard(policy)
    if str(input_path) == "-":
        source = sys.stdin
        total = None
    else:
        if not input_path.is_file():
            err.print(f"[red]error:[/red] no such file: {input_path}")
            raise typer.Exit(2)
        source = input_path.open(encoding="utf-8", errors="replace")
        total = sum(1 for line in input_path.open(encoding="utf-8", errors="replace") if line.strip())
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    summary = ScanSummary()
    show_progress = err.is_terminal
    with Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=not show_progress) as progress:
        task = progress.add_task("scan", total=total)
        try:
            for result in scan_lines(guard, source):
                sink.write(result.verdict.model_dump_json() + "\n")
                summary.add(result)
                if result.bad_input:
                    err.print(f"[yellow]skipped[/yellow] {result.verdict.error}")
                progress.advance(task)
        finally:
            if output:
                sink.close()
            if source is not sys.stdin:
                source.close()
    err.print(summary_table(summary))
    if fail_on_flag and summary.flagged:
        raise typer.Exit(1)


@app.command()
def demo(
    details: Annotated[bool, typer.Option(help="Show every turn with its evidence.")] = False,
    policy: PolicyOption = None,
) -> None:
    """Run the built-in example conversations and show what each detector finds."""
    guard = _guard(policy)
    rows = [(turn, guard.check_turn(turn)) for turn in DEMO_TURNS]
    if details:
        for turn, verdict in rows:
            out.print(verdict_panel(turn, verdict))
    out.print(demo_table(rows))


@app.command()
def serve(
    upstream: Annotated[str, typer.Option(help="OpenAI-compatible upstream base URL.")] = "http://127.0.0.1:8000/v1",
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    policy: PolicyOption = None,
) -> None:
    """Start the OpenAI-compatible guarding proxy (needs the [proxy] extra)."""
    try:
        from guardrail_proxy.server import run
    except ImportError:
        err.print("[red]error:[/red] the proxy needs the extra: pip install 'empathy-guardrail[proxy]'")
        raise typer.Exit(2) from None
    run(upstream=upstream, host=host, port=port, guard=_guard(policy, sinks=True))


app.add_typer(review_app, name="review")
app.command("calibrate")(calibrate_command)


def main() -> None:
    app()
