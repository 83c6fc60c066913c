"""Rich rendering of verdicts for people (the --json output is for machines)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from guardrail.scan import ScanSummary
from guardrail.types import MECHANISMS, Turn, Verdict


def _bar(score: float, threshold: float = 0.5, width: int = 10) -> Text:
    filled = round(score * width)
    style = "bold red" if score >= threshold else "green"
    return Text("█" * filled + "·" * (width - filled) + f" {score:.2f}", style=style)


def verdict_panel(turn: Turn, verdict: Verdict) -> Panel:
    """One turn: a row per mechanism with score, flag, explanation and evidence."""
    table = Table(expand=True, show_lines=False)
    table.add_column("mechanism", no_wrap=True)
    table.add_column("score", no_wrap=True)
    table.add_column("why / evidence")
    for f in verdict.findings:
        why = Text(f.explanation)
        if f.flagged and f.evidence:
            why.append("\n")
            for span in f.evidence[:4]:
                why.append(f"  {span.side}: ", style="dim")
                why.append(f"“{span.text}”", style="yellow")
                if span.label:
                    why.append(f" ({span.label})", style="dim")
                why.append("\n")
        name = Text(("⚑ " if f.flagged else "  ") + f.mechanism, style="bold red" if f.flagged else "")
        table.add_row(name, _bar(f.score), why)
    status = Text("FLAGGED: " + ", ".join(verdict.flags), style="bold red") if verdict.flagged else Text(
        "ok", style="bold green")
    header = Text.assemble(status, f"   action={verdict.action}   {verdict.latency_ms:.2f} ms")
    if verdict.error:
        header.append(f"   note: {verdict.error}", style="yellow")
    title = f"turn {turn.id}" if turn.id is not None else "turn"
    ref = Text.assemble((f"{turn.reference_kind}: ", "dim"), _clip(turn.reference))
    reply = Text.assemble(("reply: ", "dim"), _clip(turn.response))
    return Panel(Group(ref, reply, header, table), title=title, title_align="left")


def _clip(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SHORT = {"attenuation": "att", "granularity": "gra", "conflict_avoidance": "con", "distancing": "dis"}


def demo_table(rows: Sequence[tuple[Turn, Verdict]]) -> Table:
    """The demo overview: one row per example, a column per mechanism."""
    table = Table(title="empathy-guardrail demo", show_lines=True,
                  caption="att = attenuation, gra = granularity, con = conflict_avoidance, dis = distancing; "
                          "⚑ = flagged. --details shows the evidence of every turn.")
    table.add_column("turn", max_width=18, overflow="fold")
    for mechanism in MECHANISMS:
        table.add_column(_SHORT[mechanism], justify="center", no_wrap=True)
    table.add_column("why (first flag)", min_width=12, ratio=1, overflow="fold")
    for turn, verdict in rows:
        cells = []
        for mechanism in MECHANISMS:
            score = verdict.scores.get(mechanism, 0.0)
            flagged = mechanism in verdict.flags
            cells.append(Text(f"{'⚑ ' if flagged else ''}{score:.2f}", style="bold red" if flagged else "dim"))
        flagged_findings = [f for f in verdict.findings if f.flagged]
        evidence = flagged_findings[0].explanation if flagged_findings else "—"
        table.add_row(str(turn.id), *cells, evidence)
    return table


def summary_table(summary: ScanSummary) -> Table:
    """The table at the end of a scan: turns flagged per mechanism and latency."""
    scored = summary.lines - summary.bad_lines
    table = Table(title=f"scanned {summary.lines} lines ({summary.bad_lines} bad, {summary.flagged} flagged)")
    table.add_column("mechanism")
    table.add_column("flagged", justify="right")
    table.add_column("share", justify="right")
    for mechanism in MECHANISMS:
        n = summary.per_mechanism[mechanism]
        table.add_row(mechanism, str(n), f"{n / scored:.1%}" if scored else "—")
    table.add_row("any", str(summary.flagged), f"{summary.flagged / scored:.1%}" if scored else "—", style="bold")
    if summary.latencies_ms:
        ordered = sorted(summary.latencies_ms)
        median = ordered[len(ordered) // 2]
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        table.caption = f"latency per turn: median {median:.2f} ms, p95 {p95:.2f} ms"
    return table
