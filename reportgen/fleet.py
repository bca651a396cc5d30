"""Fleets: one assessment per database, many databases in one run, and one summary.

Members come from a file of DSNs (one per line; ``#`` starts a comment) or from every
database of one server the role may connect to. A password is never taken from the file
(secrets by reference: ``service=``, a passfile, libpq's environment): a line holding one is
a row saying so, and nothing is connected with it. Each member is collected and analyzed on
its own, in a pool of threads (collection waits on the server; the codebase is read once for
all); one member that cannot be reached, or whose database is hostile, is a row saying why,
and the rest go on.

``--shard I/N`` keeps the members whose position (0-based, in file order, or by database name)
is I modulo N: the same split on every machine, so a scheduler (a Kubernetes Indexed Job:
I = JOB_COMPLETION_INDEX) runs the shards in parallel. Each shard writes its rows to
``fleet-shard-I-of-N.json``; ``reportgen fleet merge`` builds the summary from them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reportgen.connection import DsnSource, scrub, secrets_of
from reportgen.constants import LEVELS, Level
from reportgen.errors import InputError, ReportgenError

SHARD_GLOB = "fleet-shard-*.json"
_RENDER = threading.Lock()
SUMMARY_STEM = "fleet"
DEFAULT_JOBS = 8


class FleetRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: int = Field(description="0-based position in the member list (shards split it).")
    member: str = Field(description="The member as shown: host:port/dbname or service=NAME, "
                        "never a password.")
    outcome: str = Field(description="assessed; unreachable (no connection); refused (the "
                         "line holds a password, or cannot be parsed); failed (an error while "
                         "assessing).")
    worst: Level | None = Field(default=None, description="Worst finding's level (None: no "
                                "finding at all).")
    status: str | None = Field(default=None, description="The assessment's headline.")
    data_loss: str | None = None
    findings: dict[str, int] = Field(default_factory=dict, description="Findings per level.")
    tenants: dict[str, int] | None = Field(default=None, description="Tenant verdict counts.")
    report: str | None = Field(default=None, description="The member's folder, relative to "
                               "the shard's output directory.")
    error: str | None = Field(default=None, description="Why it was not assessed (one line).")
    seconds: float = 0.0


class FleetShard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shard: int
    shards: int
    members: int = Field(description="Members in the whole list (every shard).")
    started_at: datetime
    finished_at: datetime
    rows: list[FleetRow]


@dataclass(frozen=True)
class Member:
    position: int
    shown: str
    conninfo: str | None  # None: refused (``error`` says why)
    error: str | None = None


def read_members(text: str, origin: str) -> list[Member]:
    """The DSN file's members: one DSN per line (a libpq URL or key=value string); blank
    lines and ``#`` comments skipped. A line with a password is refused (secrets by
    reference only), and shown without it."""
    from psycopg.conninfo import conninfo_to_dict

    out: list[Member] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pos = len(out)
        try:
            params = conninfo_to_dict(line)
        except Exception:
            out.append(Member(pos, f"{origin} line {n}", None,
                              f"{origin} line {n} is not a libpq DSN (URL or key=value)"))
            continue
        shown = member_label(params)
        if params.get("password"):
            out.append(Member(pos, shown, None,
                              f"{origin} line {n} holds a password: give it by reference "
                              "(service=NAME with a pg_service.conf, or a passfile), not inline"))
            continue
        out.append(Member(pos, shown, line))
    return out


def member_label(params: dict[str, Any]) -> str:
    """host:port/dbname (or service=NAME, with dbname when given): never a password, and
    nothing else of the DSN."""
    db = params.get("dbname")
    if params.get("service"):
        return f"service={params['service']}" + (f"/{db}" if db else "")
    host = params.get("host") or params.get("hostaddr") or "local socket"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{db or '(default)'}"


def server_members(source: DsnSource, connect_timeout_s: int) -> list[Member]:
    """Every database of the server the role may connect to (pg_database: allowing
    connections, not a template, CONNECT privilege), by name, each with the server's DSN and
    its own dbname."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from reportgen.errors import ConnectionFailed

    try:
        with psycopg.connect(source.conninfo, connect_timeout=connect_timeout_s,
                             application_name="reportgen fleet", autocommit=True) as conn:
            names = [r[0] for r in conn.execute(
                "SELECT datname::pg_catalog.text FROM pg_catalog.pg_database "
                "WHERE datallowconn AND NOT datistemplate AND "
                "pg_catalog.has_database_privilege(oid, 'CONNECT') "
                "ORDER BY datname COLLATE pg_catalog.\"C\"")]
    except psycopg.Error as exc:
        raise ConnectionFailed(f"cannot list the server's databases: "
                               f"{scrub(str(exc).strip().splitlines()[0], [])}") from None
    params = conninfo_to_dict(source.conninfo)
    return [Member(i, member_label({**params, "dbname": name}),
                   make_conninfo(source.conninfo, dbname=name))
            for i, name in enumerate(names)]


def parse_shard(text: str | None) -> tuple[int, int]:
    """``I/N`` (0 <= I < N): this shard's index and the number of shards."""
    if text is None:
        return 0, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or int(m[2]) < 1 or int(m[1]) >= int(m[2]):
        raise InputError(f"--shard {text!r}: expected I/N with 0 <= I < N (e.g. 0/4; in a "
                         "Kubernetes Indexed Job: $JOB_COMPLETION_INDEX/N)")
    return int(m[1]), int(m[2])


def folder_name(member: Member) -> str:
    """A member's folder: its position and its label with nothing a path or a shell could
    read as more than a name (a database's name is input from a possible attacker)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", member.shown).strip("._-")[:60] or "member"
    return f"{member.position:05d}-{safe}"


def assess_member(member: Member, out: Path, *, formats: list[str],
                  collect_options: dict[str, Any], codebase: Any) -> FleetRow:
    """Collect, analyze and render one member into ``out/members/FOLDER``; never raises."""
    from reportgen.errors import ConnectionFailed

    t0 = time.perf_counter()
    base = {"position": member.position, "member": member.shown}
    if member.conninfo is None:
        return FleetRow(**base, outcome="refused", error=member.error)
    source = DsnSource(f"fleet member {member.position}", member.conninfo)
    folder = Path("members") / folder_name(member)
    try:
        from reportgen.collect.run import collect
        from reportgen.options import RenderOptions
        from reportgen.outputs import assess_outputs

        bundle = collect(source, codebase=codebase, **collect_options).full()
        title = f"Incident assessment: fleet member {member.position}"
        # WeasyPrint is not known to be thread-safe: one member's HTML and PDF at a time
        # (collection, the slow part on a fleet, still overlaps).
        with _RENDER if {"html", "pdf"} & set(formats) else contextlib.nullcontext():
            written = assess_outputs(bundle, out / folder, RenderOptions(title=title),
                                     formats=formats)
        a = written.assessment
        counts: dict[str, int] = {}
        for f in a.findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        worst = max(counts, key=LEVELS.index) if counts else None  # as --fail-on sees it
        return FleetRow(**base, outcome="assessed", worst=worst, status=a.status,
                        data_loss=a.data_loss, findings=counts,
                        tenants=a.tenants.counts() if a.tenants is not None else None,
                        report=str(folder), seconds=round(time.perf_counter() - t0, 2))
    except ConnectionFailed as exc:
        return FleetRow(**base, outcome="unreachable", error=_line(exc, member),
                        seconds=round(time.perf_counter() - t0, 2))
    except ReportgenError as exc:
        return FleetRow(**base, outcome="failed", error=_line(exc, member),
                        seconds=round(time.perf_counter() - t0, 2))
    except Exception as exc:  # one member's bug never stops the fleet: its row says it
        return FleetRow(**base, outcome="failed",
                        error=_line(RuntimeError(f"{type(exc).__name__}: {exc}"), member),
                        seconds=round(time.perf_counter() - t0, 2))


def _line(exc: BaseException, member: Member) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return scrub(text, secrets_of(DsnSource("", member.conninfo or "")))[:500]


def run_fleet(members: list[Member], out: Path, *, shard: tuple[int, int], jobs: int,
              formats: list[str], collect_options: dict[str, Any], codebase: Any,
              progress: Callable[[str], None]) -> FleetShard:
    """Assess this shard's members, ``jobs`` at a time, and write its rows."""
    index, count = shard
    mine = [m for m in members if m.position % count == index]
    started = datetime.now(UTC)
    rows: list[FleetRow] = []
    lock = threading.Lock()

    def one(m: Member) -> FleetRow:
        row = assess_member(m, out, formats=formats, collect_options=collect_options,
                            codebase=codebase)
        with lock:
            rows.append(row)
            progress(f"[{len(rows)}/{len(mine)}] {row.member}: "
                     + (f"{row.worst} — {row.status}" if row.outcome == "assessed"
                        else f"{row.outcome}: {row.error}"))
        return row

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="fleet") as pool:
        list(pool.map(one, mine))
    result = FleetShard(shard=index, shards=count, members=len(members), started_at=started,
                        finished_at=datetime.now(UTC),
                        rows=sorted(rows, key=lambda r: r.position))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"fleet-shard-{index}-of-{count}.json").write_text(
        result.model_dump_json(indent=1) + "\n", "utf-8")
    return result


def load_shards(dirs: Iterable[Path]) -> list[tuple[Path, FleetShard]]:
    out = []
    for d in dirs:
        files = sorted(d.glob(SHARD_GLOB))
        if not files:
            raise InputError(f"{d}: no {SHARD_GLOB} in it (the output directory of "
                             "`reportgen fleet assess`)")
        for f in files:
            try:
                out.append((d, FleetShard.model_validate_json(f.read_text("utf-8"))))
            except (OSError, ValueError) as exc:
                raise InputError(f"{f}: not a fleet shard file ({type(exc).__name__})"
                                 ) from None
    counts = {s.shards for _, s in out}
    if len(counts) > 1:
        raise InputError(f"the shard files come from different splits (N = "
                         f"{', '.join(map(str, sorted(counts)))}): merge one run's shards")
    return out


def missing_shards(shards: list[tuple[Path, FleetShard]]) -> list[int]:
    if not shards:
        return []
    n = shards[0][1].shards
    have = {s.shard for _, s in shards}
    return [i for i in range(n) if i not in have]


def rank(row: FleetRow) -> int:
    """Worst first: a member not assessed ranks above every level (nothing is known of
    it), then by level."""
    if row.outcome != "assessed":
        return len(LEVELS) + 1
    return LEVELS.index(row.worst) + 1 if row.worst in LEVELS else 0


def summary_rows(shards: list[tuple[Path, FleetShard]], out: Path) -> list[FleetRow]:
    """Every shard's rows, each report path made relative to ``out``, worst first."""
    rows = []
    for d, s in shards:
        for r in s.rows:
            if r.report is not None:
                r = r.model_copy(update={"report": os.path.relpath(d / r.report, out)})
            rows.append(r)
    return sorted(rows, key=lambda r: (-rank(r), r.position))


CSV_COLUMNS = ("position", "member", "outcome", "worst", "status", "data_loss",
               "critical", "high", "medium", "tenants", "report", "error", "seconds")


def summary_csv(rows: list[FleetRow]) -> bytes:
    from reportgen.render.listing import _cell

    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([_cell(v) for v in (
            r.position, r.member, r.outcome, r.worst, r.status, r.data_loss,
            r.findings.get("CRITICAL", 0), r.findings.get("HIGH", 0),
            r.findings.get("MEDIUM", 0), json.dumps(r.tenants) if r.tenants else None,
            r.report, r.error, r.seconds)])
    return buf.getvalue().encode("utf-8")


def write_summary(shards: list[tuple[Path, FleetShard]], out: Path, formats: list[str],
                  template_dir: str | None = None) -> tuple[list[FleetRow], list[Path]]:
    """fleet.md (+ fleet.html, fleet.pdf as asked) and fleet.csv in ``out``."""
    from reportgen.fileio import write_atomic
    from reportgen.render.environment import make_environment
    from reportgen.timezones import parse_tz

    out.mkdir(parents=True, exist_ok=True)
    rows = summary_rows(shards, out)
    env = make_environment(template_dir, parse_tz("UTC"), markdown=True)
    started = min((s.started_at for _, s in shards), default=datetime.now(UTC))
    finished = max((s.finished_at for _, s in shards), default=datetime.now(UTC))
    outcomes: dict[str, int] = {}
    levels: dict[str, int] = {}
    for r in rows:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
        if r.outcome == "assessed":
            key = r.worst or "no finding"
            levels[key] = levels.get(key, 0) + 1
    text = env.get_template("fleet.md.j2").render(
        rows=rows, outcomes=outcomes, levels=[(lv, levels[lv]) for lv in
                                              [*reversed(LEVELS), "no finding"] if lv in levels],
        shards=len(shards), expected_shards=shards[0][1].shards if shards else 0,
        missing=missing_shards(shards),
        members=shards[0][1].members if shards else 0, started=started, finished=finished,
        worst=fleet_worst(rows))
    written = []
    for name, data in ((f"{SUMMARY_STEM}.md", text.encode("utf-8")),
                       (f"{SUMMARY_STEM}.csv", summary_csv(rows))):
        write_atomic(out / name, data)
        written.append(out / name)
    if "html" in formats or "pdf" in formats:
        from reportgen.render.environment import visible
        from reportgen.render.html import drawable, markdown_to_html_body

        plain_env = make_environment(template_dir, parse_tz("UTC"))
        css_print = plain_env.get_template("print.css").render()
        body = markdown_to_html_body(text)
        if "html" in formats:
            css = plain_env.get_template("screen.css").render()
            page = _page(body, css, "reportgen fleet summary")
            write_atomic(out / f"{SUMMARY_STEM}.html", visible(page).encode("utf-8"))
            written.append(out / f"{SUMMARY_STEM}.html")
        if "pdf" in formats:
            from reportgen.render.pdf import render_pdf

            render_pdf(drawable(_page(body, css_print, "reportgen fleet summary")),
                       out / f"{SUMMARY_STEM}.pdf", template_dir,
                       listings=[(f"{SUMMARY_STEM}.csv", summary_csv(rows))])
            written.append(out / f"{SUMMARY_STEM}.pdf")
    return rows, written


def _page(body: str, css: str, title: str) -> str:
    import html

    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{css}</style></head>"
            f"<body>{body}</body></html>\n")


def fleet_worst(rows: list[FleetRow]) -> str:
    """The fleet's worst: a level, or UNKNOWN when a member could not be assessed."""
    if any(r.outcome != "assessed" for r in rows):
        return "UNKNOWN"
    levels = [r.worst for r in rows if r.worst is not None]
    return max(levels, key=LEVELS.index) if levels else "NO FINDING"


def gate_reached(rows: list[FleetRow], fail_on: str | None) -> bool:
    """--fail-on LEVEL: a member at or above it, or a member not assessed (nothing shows it
    is below)."""
    if not fail_on:
        return False
    limit = LEVELS.index(fail_on.upper())
    return any(r.outcome != "assessed" or (r.worst in LEVELS and LEVELS.index(r.worst) >= limit)
               for r in rows)
