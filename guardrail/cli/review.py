"""``guardrail review list|show|export|label`` and ``guardrail calibrate``.

The review store is the SQLite file the guard writes flagged turns to when ``GUARDRAIL_REVIEW_DB``
(or ``review_db`` in the policy file) is set; ``--db`` points at another one.
"""

from __future__ import annotations

import csv
import enum
import getpass
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from guardrail.policy import Policy, PolicyError, load_policy
from guardrail.review import PolicyFileError, calibrate, write_thresholds
from guardrail.sinks.sqlite_store import ReviewStore, ReviewStoreError, StoredTurn, age_to_since
from guardrail.types import MECHANISMS

review_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Review flagged turns: list, show, export, and confirm or reject flags.")
out = Console()
err = Console(stderr=True)

DbOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--db", help="Review store (default: $GUARDRAIL_REVIEW_DB or review_db in the policy).")]
PolicyOption = Annotated[Optional[Path], typer.Option("--policy", "-p", help="Policy TOML file.")]  # noqa: UP045


class StatusChoice(enum.StrEnum):
    all = "all"
    unlabelled = "unlabelled"
    labelled = "labelled"
    confirmed = "confirmed"
    rejected = "rejected"


class Decision(enum.StrEnum):
    confirm = "confirm"
    reject = "reject"
    clear = "clear"


class ExportFormat(enum.StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _policy(path: Path | None) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise _fail(str(exc)) from None


def _store(db: Path | None, policy: Path | None = None) -> ReviewStore:
    path = db or (Path(p) if (p := _policy(policy).review_db) else None)
    if path is None:
        raise _fail("no review store given: use --db PATH, or set GUARDRAIL_REVIEW_DB (which also makes the "
                    "guard record flagged turns there)")
    if not path.exists():
        raise _fail(f"no review store at {path} (the guard creates it once GUARDRAIL_REVIEW_DB={path} is set "
                    "and a turn is flagged)")
    try:
        return ReviewStore(path)
    except ReviewStoreError as exc:
        raise _fail(str(exc)) from None


def _check_mechanism(mechanism: str | None) -> None:
    if mechanism is not None and mechanism not in MECHANISMS:
        raise _fail(f"unknown mechanism {mechanism!r} (known: {', '.join(MECHANISMS)})")


def _flags_text(turn: StoredTurn) -> Text:
    text = Text()
    ordered = sorted(turn.flags, key=lambda m: -turn.scores.get(m, 0.0))
    for i, mechanism in enumerate(ordered):
        if i:
            text.append("\n")
        label = turn.labels.get(mechanism)
        style = "green" if label and label.label == "confirmed" else "strike dim" if label else "bold"
        text.append(f"{mechanism} {turn.scores.get(mechanism, 0.0):.2f}", style=style)
    if not ordered:
        text.append(turn.error or "error", style="red")
    return text


_STATUS_STYLE = {"unlabelled": "yellow", "confirmed": "green", "rejected": "dim", "mixed": "cyan"}


@review_app.command("list")
def list_turns(
    status: Annotated[StatusChoice, typer.Option("--status", "-s", help="Which turns.")] = StatusChoice.all,
    mechanism: Annotated[Optional[str], typer.Option("--mechanism", "-m", help="Only turns flagged for this.")] = None,  # noqa: UP045
    since: Annotated[Optional[str], typer.Option(help="Only this recent: 30m, 12h, 7d.")] = None,  # noqa: UP045
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many (newest first).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    db: DbOption = None,
    policy: PolicyOption = None,
) -> None:
    """List flagged turns, newest first."""
    _check_mechanism(mechanism)
    store = _store(db, policy)
    try:
        turns = store.list_turns(status=status.value, mechanism=mechanism, limit=limit,
                                 since=age_to_since(since))
        total = store.count(status.value)
    except ReviewStoreError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        for turn in turns:
            sys.stdout.write(json.dumps(turn.to_dict(), ensure_ascii=False) + "\n")
        return
    table = Table(title=f"{len(turns)} of {total} flagged turns ({status.value}) in {store.path}")
    table.add_column("event", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("conversation / turn", overflow="fold", min_width=12)
    table.add_column("flags", overflow="fold", min_width=16)
    table.add_column("status", no_wrap=True)
    for turn in turns:
        ids = " / ".join(x for x in (turn.conversation_id, turn.turn_id) if x) or "–"
        status_text = Text(turn.status, style=_STATUS_STYLE.get(turn.status, ""))
        if turn.action not in ("flag", "none"):
            status_text.append(f"\n{turn.action}", style="bold")
        table.add_row(turn.event_id[:8], turn.created_at[5:16].replace("T", " "), ids, _flags_text(turn),
                      status_text)
    out.print(table)
    if turns:
        out.print("[dim]guardrail review show EVENT · guardrail review label EVENT confirm|reject[/dim]")


def _turn_panel(turn: StoredTurn) -> Panel:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="dim")
    head.add_column()
    head.add_row("event", turn.event_id)
    head.add_row("time", turn.created_at)
    if turn.conversation_id:
        head.add_row("conversation", turn.conversation_id)
    if turn.turn_id:
        head.add_row("turn", turn.turn_id)
    head.add_row("action", turn.action)
    if turn.error:
        head.add_row("error", Text(turn.error, style="red"))
    scores = Table(expand=True)
    for column in ("mechanism", "score", "label", "why / evidence"):
        scores.add_column(column, overflow="fold")
    by_mechanism = {f.get("mechanism"): f for f in turn.findings}
    for mechanism in MECHANISMS:
        if mechanism not in turn.scores:
            continue
        flagged = mechanism in turn.flags
        finding = by_mechanism.get(mechanism, {})
        why = Text(str(finding.get("explanation", "")))
        for span in finding.get("evidence", [])[:4]:
            why.append(f"\n  {span.get('side')}: ", style="dim")
            why.append(f"“{span.get('text')}”", style="yellow")
            if span.get("label"):
                why.append(f" ({span['label']})", style="dim")
        label = turn.labels.get(mechanism)
        label_text = Text(label.label if label else "", style="green" if label and label.label == "confirmed"
                          else "dim")
        if label and label.note:
            label_text.append(f"\n{label.note}", style="dim")
        scores.add_row(Text(("⚑ " if flagged else "  ") + mechanism, style="bold red" if flagged else ""),
                       f"{turn.scores[mechanism]:.3f}", label_text, why)
    parts: list[RenderableType] = [head, scores]
    if turn.reference is not None:
        parts.append(Panel(turn.reference or "", title=f"{turn.reference_kind} (redacted)", title_align="left"))
        parts.append(Panel(turn.response or "", title="reply (redacted)", title_align="left"))
    else:
        parts.append(Text("(text not stored: review_text is off)", style="dim"))
    return Panel(Group(*parts), title=f"flagged turn · {turn.status}", title_align="left")


@review_app.command()
def show(
    event: Annotated[str, typer.Argument(help="Event id (or a unique prefix of 4+ characters).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored turn as JSON.")] = False,
    db: DbOption = None,
    policy: PolicyOption = None,
) -> None:
    """Show one flagged turn: scores, evidence, texts and labels."""
    store = _store(db, policy)
    try:
        turn = store.get(event)
    except ReviewStoreError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(turn.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        out.print(_turn_panel(turn))


@review_app.command()
def label(
    event: Annotated[str, typer.Argument(help="Event id (or a unique prefix of 4+ characters).")],
    decision: Annotated[Decision, typer.Argument(help="confirm: the flag is right; reject: a false alarm; "
                                                      "clear: remove labels.")],
    mechanism: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--mechanism", "-m", help="Only this mechanism (repeatable; default: all the turn's flags). Confirming "
                                  "a mechanism that was not flagged records a miss.")] = None,
    note: Annotated[Optional[str], typer.Option(help="Why (kept with the label).")] = None,  # noqa: UP045
    reviewer: Annotated[Optional[str], typer.Option("--by", help="Reviewer (default: $USER).")] = None,  # noqa: UP045
    db: DbOption = None,
    policy: PolicyOption = None,
) -> None:
    """Confirm or reject a turn's flags (or clear the labels)."""
    for m in mechanism or []:
        _check_mechanism(m)
    store = _store(db, policy)
    try:
        if decision is Decision.clear:
            turn = store.unlabel(event, mechanisms=mechanism)
        else:
            who = reviewer or _user()
            turn = store.label(event, "confirmed" if decision is Decision.confirm else "rejected",
                               mechanisms=mechanism, reviewer=who, note=note)
    except ReviewStoreError as exc:
        raise _fail(str(exc)) from None
    done = ", ".join(f"{m}: {lab.label}" for m, lab in sorted(turn.labels.items())) or "no labels"
    out.print(f"{turn.event_id[:12]} → {done}")


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


_CSV_FIELDS = ["event_id", "created_at", "kind", "conversation_id", "turn_id", "mechanism", "flags", "action",
               "latency_ms", "error", *[f"score_{m}" for m in MECHANISMS], *[f"label_{m}" for m in MECHANISMS],
               "reference_kind", "reference", "response"]


@review_app.command()
def export(
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="File to write (default stdout).")] = None,  # noqa: UP045
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="jsonl (full) or csv (flat).")] = ExportFormat.jsonl,  # noqa: E501
    status: Annotated[StatusChoice, typer.Option("--status", "-s", help="Which turns.")] = StatusChoice.all,
    mechanism: Annotated[Optional[str], typer.Option("--mechanism", "-m", help="Only turns flagged for this.")] = None,  # noqa: UP045
    db: DbOption = None,
    policy: PolicyOption = None,
) -> None:
    """Export stored turns with their labels, oldest first (JSON Lines or CSV)."""
    _check_mechanism(mechanism)
    store = _store(db, policy)
    sink = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    n = 0
    try:
        writer = csv.DictWriter(sink, fieldnames=_CSV_FIELDS) if fmt is ExportFormat.csv else None
        if writer is not None:
            writer.writeheader()
        for turn in store.iter_all(status=status.value, mechanism=mechanism):
            n += 1
            if writer is None:
                sink.write(json.dumps(turn.to_dict(), ensure_ascii=False) + "\n")
                continue
            row = {k: getattr(turn, k) for k in _CSV_FIELDS if hasattr(turn, k)}
            row["flags"] = " ".join(turn.flags)
            for m in MECHANISMS:
                row[f"score_{m}"] = turn.scores.get(m, "")
                row[f"label_{m}"] = turn.labels[m].label if m in turn.labels else ""
            writer.writerow(row)
    finally:
        if output:
            sink.close()
    if output:
        err.print(f"exported {n} turns to {output}")


def calibrate_command(
    precision: Annotated[float, typer.Option("--precision", help="Target precision per mechanism.")] = 0.9,
    min_labels: Annotated[int, typer.Option(help="Leave a mechanism alone with fewer labels than this.")] = 20,
    min_confirmed: Annotated[int, typer.Option(help="... or fewer confirmed labels than this.")] = 5,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the thresholds, do not write them.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    db: DbOption = None,
    policy: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--policy", "-p", help="Policy file to update (default: $GUARDRAIL_POLICY, else ./guardrail.toml).")] = None,
) -> None:
    """Set per-mechanism thresholds from the labelled turns for a target precision; write them to the policy."""
    import os

    if not 0.0 < precision <= 1.0:
        raise _fail("--precision must be in (0, 1]")
    target = policy or Path(os.environ.get("GUARDRAIL_POLICY") or "guardrail.toml")
    current_policy = _policy(target if target.exists() else None)
    store = _store(db, target if target.exists() else None)
    current = {m: current_policy.for_mechanism(m).threshold for m in MECHANISMS}
    results = calibrate(store.labelled_scores(), current, target_precision=precision, min_labels=min_labels,
                        min_confirmed=min_confirmed)
    changed = {m: r.threshold for m, r in results.items() if r.changed}
    if as_json:
        sys.stdout.write(json.dumps({"policy": str(target), "target_precision": precision, "written": bool(
            changed) and not dry_run, "mechanisms": {m: r.to_dict() for m, r in results.items()}}) + "\n")
    else:
        table = Table(title=f"calibration for precision ≥ {precision:.2f} from {store.path}")
        for column in ("mechanism", "labels (✓/✗)", "threshold", "precision", "recall", "note"):
            table.add_column(column, overflow="fold")

        def pct(x: float | None) -> str:
            return "–" if x is None else f"{x:.0%}"

        for m, r in results.items():
            moved = f"{r.current:.3f} → [bold]{r.threshold:.3f}[/bold]" if r.changed else f"{r.current:.3f}"
            precision_text = pct(r.precision) if not r.changed else f"{pct(r.precision_current)} → {pct(r.precision)}"
            table.add_row(m, f"{r.labels} ({r.confirmed}/{r.rejected})", moved, precision_text, pct(r.recall),
                          r.reason)
        out.print(table)
    overridden = [m for m in changed if os.environ.get(f"GUARDRAIL_{m.upper()}__THRESHOLD")]
    if overridden:
        err.print(f"[yellow]note:[/yellow] GUARDRAIL_<MECHANISM>__THRESHOLD is set for {', '.join(overridden)} and "
                  "overrides the policy file")
    if not changed:
        err.print("no threshold changed")
        return
    if dry_run:
        err.print(f"dry run: {target} not written")
        return
    try:
        write_thresholds(target, changed)
    except PolicyFileError as exc:
        raise _fail(str(exc)) from None
    err.print(f"wrote {len(changed)} threshold(s) to {target}")
