"""The assessment: what ``analyze`` returns and ``assessment.json`` holds (stable keys)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reportgen.bundle import ColumnName, TableName
from reportgen.bundle import TimelineEntry as TimelineEntry  # the contract's type, re-exported
from reportgen.constants import LEVELS, Level

ASSESSMENT_SCHEMA_VERSION = 1

Dimension = Literal["data", "schema", "migration", "production"]
DataLoss = Literal["confirmed", "suspected", "none_detected", "unknown"]
DIMENSIONS: tuple[Dimension, ...] = ("data", "schema", "migration", "production")


def level_rank(level: str) -> int:
    return LEVELS.index(level)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Finding(Model):
    id: str = Field(description="Stable rule id, e.g. migration.records_missing.")
    severity: Level
    dimension: Dimension
    title: str
    subjects: list[str] = Field(description="Apps, tables, columns, migrations concerned.")
    tables: list[TableName] = Field(
        default_factory=list, description="The tables among the subjects, schema and name "
        "apart: what printed commands are built from.")
    columns: list[ColumnName] = Field(
        default_factory=list, description="The columns among the subjects, schema, table and "
        "column apart.")
    evidence: list[str] = Field(description="Bundle facts the finding rests on.")
    explanation: str
    recommendation: str


class EffectCheck(Model):
    effect: str = Field(description="e.g. 'table shop_order', 'column shop_order.total'.")
    expected: Literal["present", "absent", "unknown"]
    found: Literal["present", "absent", "unknown", "superseded"]


#: The app label every migration of these frameworks carries: they have no apps, so a
#: migration is named by itself.
FRAMEWORK_APPS = ("alembic", "golang-migrate", "flyway", "prisma", "sqitch")


class MigrationStatus(Model):
    app: str
    name: str
    in_code: bool = Field(description="A migration file exists in the scanned codebase.")
    recorded: bool = Field(description="The tracking table records it (a django_migrations "
                           "row; Alembic: it is at or below a head alembic_version holds).")
    applied_at: datetime | None = None
    state: Literal["applied", "applied_schema_missing", "schema_present_unrecorded",
                   "schema_lost_unrecorded", "partially_applied", "pending",
                   "pending_or_lost", "unverifiable_unrecorded", "ghost_record",
                   "recorded_not_in_scan"] = Field(
        description="Reconciliation class. schema_lost_unrecorded: it ran (something built "
        "on it is present, or it is atomic and part of it is), then its schema and its "
        "record went; pending: it never ran (nothing built on it ran and no record was "
        "removed since its record could have been written); pending_or_lost: its schema is "
        "absent and the evidence cannot tell which.")
    fake: Literal["safe", "blocked", "unsafe", "unverifiable", "not_applicable"] = Field(
        description="Whether recording it as applied is consistent with the schema: safe, "
        "blocked (its own effects are present but a dependency cannot be recorded), unsafe, "
        "unverifiable, not applicable (recorded).")
    missing: list[str] = Field(default_factory=list, description="Effects absent from the DB.")
    present: list[str] = Field(default_factory=list, description="Effects present in the DB.")
    opaque: list[str] = Field(default_factory=list, description="Operations not checkable.")
    dependencies: list[str] = Field(default_factory=list)
    path: str | None = None
    basis: str | None = Field(default=None, description="What the state rests on, e.g. "
                              "'ran before app.0005, whose table app_x is present'.")

    @property
    def label(self) -> str:
        """As its framework names it: app.name (Django), the revision id (Alembic)."""
        return self.name if self.app in FRAMEWORK_APPS else f"{self.app}.{self.name}"


class AppSummary(Model):
    app: str
    tables_present: int
    tables_expected: int | None = Field(description="Tables the codebase creates (None: unknown).")
    tables_missing: list[str]
    records: int
    migrations_in_code: int | None
    unrecorded_in_code: int
    source: str = Field(description="How tables were attributed to the app.")


class Hypothesis(Model):
    id: str = Field(default="", description="One of the fixed set (reportgen.analyze."
                    "hypotheses.HYPOTHESES).")
    title: str
    verdict: Literal["supported", "contradicted", "undecided"] = Field(
        description="From machine evidence only: undecided when it is missing or mixed.")
    evidence_for: list[str]
    evidence_against: list[str]
    reported: list[str] = Field(default_factory=list, description="Timeline lines of the "
                                "responder that mention it: shown, never counted.")
    would_decide: str | None = Field(default=None, description="UNDECIDED: the evidence "
                                     "that would decide it.")


class RowPrediction(Model):
    """What a data repair does to one table's rows."""

    schema_name: str
    name: str
    rows: Literal["whole", "missing_keys", "same"] = Field(
        description="whole: the table comes back with the restored copy's rows; missing_keys: "
        "the restored rows whose primary key is missing are inserted, every current row "
        "stays; same: its rows stay as they are.")
    key: list[str] = Field(default_factory=list, description="missing_keys: the primary key.")
    columns: list[str] = Field(default_factory=list, description="Columns the repair adds "
                               "back (filled by key from the restored copy).")


class FixFile(Model):
    """One of an option's commands or scripts as a file the responder runs (``fix/`` beside
    the report, attached to the PDF, in the archive's manifest)."""

    name: str = Field(pattern=r"^fix/[A-Za-z0-9][A-Za-z0-9_-]*\.(py|sql|sh)$",
                      description="Path beside the report, e.g. fix/option-1.py (an "
                      "assessment.json naming any other path is refused: it is written to).")
    run: str = Field(description="How to run it.")
    where: str = Field(description="The folder to run it from.")
    content: str = Field(description="The file's text (UTF-8), its header first.")
    sha256: str = Field(description="sha256 of the file's bytes, hex.")
    shown: bool = Field(description="Every line fits the report's code block, unindented and "
                        "without doubled spaces, so the report prints the file whole and text "
                        "copied from the PDF is the file; otherwise it names the file only.")

    @model_validator(mode="after")
    def _digest_matches(self) -> FixFile:
        """The sha-256 the report prints is the file's: an edited assessment.json whose
        content and digest disagree is refused."""
        if hashlib.sha256(self.content.encode("utf-8")).hexdigest() != self.sha256:
            raise ValueError(f"{self.name}: sha256 does not match its content")
        return self


class RecoveryOption(Model):
    id: str
    title: str
    applies_when: str
    steps: list[str]
    commands: list[str] = Field(default_factory=list, description="Printed, never executed.")
    script: str | None = Field(default=None, description="SQL for review, never executed.")
    script_file: str | None = Field(
        default=None, description="The file name the commands run the script from, when they "
        "do (the responder saves the script under it).")
    python: str | None = Field(default=None, description="Python for `manage.py shell < file` "
                               "(Django's own API), when the option has it.")
    undo: str | None = Field(default=None, description="How to take the change back.")
    in_project: bool = Field(default=False, description="Its commands run in the application's "
                             "folder (manage.py, migration files).")
    files: list[FixFile] = Field(default_factory=list, description="The commands and scripts "
                                 "as files, in the order to run them.")
    pros: list[str]
    cons: list[str]
    data_loss_risk: Level
    expected_time: str
    verification: list[str]
    recommended: bool = False
    why: str = ""
    restore_point: datetime | None = Field(default=None, description="Restore time (UTC).")
    window_check: str | None = Field(default=None,
                                     description="Restore point vs the provider's window.")
    subjects: list[str] = Field(default_factory=list, description="Tables it acts on.")
    outcome: list[str] = Field(
        default_factory=list, description="What the tool's own view will show once the "
        "commands ran (e.g. Django's showmigrations and migrate --plan).")
    ruled_out: str | None = Field(
        default=None, description="Why the evidence rules this option out (e.g. the restore "
        "point is beyond the provider's window); such an option is never recommended.")
    predicted_unapplied: list[str] | None = Field(
        default=None, description="What the framework would still run once the fix ran (what "
        "a rehearsal checks). Django: the migrations (app.name) `migrate --plan` lists, for "
        "the apps in predicted_apps; Alembic: the revisions `alembic upgrade` runs, in order.")
    predicted_apps: list[str] | None = Field(
        default=None, description="The apps the prediction covers (the migration files read).")
    predicted_heads: list[str] | None = Field(
        default=None, description="Alembic: the revisions `alembic current` shows once the "
        "fix ran.")
    predicted_tenants: dict[str, list[str]] | None = Field(
        default=None, description="Schema per tenant: each tenant schema the fix repairs, "
        "and the migrations (app.name) Django's showmigrations still lists unapplied there "
        "once the fix ran (those left for a decision; none: `migrate_schemas --check` "
        "passes).")
    predicted_rows: list[RowPrediction] | None = Field(
        default=None, description="A data repair: what it does to each table's rows (what a "
        "rehearsal counts).")
    rehearsal: RehearsalResult | None = Field(
        default=None, description="The fix run on a scratch copy of the schema, judged by the "
        "framework (reportgen rehearse).")


class RehearsalStep(Model):
    what: str = Field(description="What the step does.")
    command: str = Field(description="The command as shown (no password).")
    exit_code: int
    seconds: float
    output: str = Field(description="Its output's last part (stdout, then stderr).")
    superseded: bool = Field(default=False, description="It failed and another way did its "
                             "work (pg_dump refused: reportgen's catalog copy instead).")
    answer: bool = Field(default=False, description="Its exit code is the framework's answer, "
                         "not a failure (migrate_schemas --check: non-zero means planned; "
                         "Alembic's probe: it cannot locate the probe version).")


class RehearsalResult(Model):
    """What a rehearsal of an option's fix showed (the transcript is rehearsal.json, beside
    the bundle; its digest is here)."""

    outcome: Literal["confirmed", "differed", "failed"] = Field(
        description="confirmed: the framework's view after the fix is the predicted one; "
        "differed: it is not (the recommendation is withdrawn); failed: the fix or the "
        "framework stopped with an error (withdrawn too).")
    why: str = Field(description="One paragraph: what matched, or what differed.")
    transcript: str = Field(description="The transcript's file name beside the report.")
    transcript_sha256: str = Field(description="sha256 of the transcript's bytes.")
    file: str = Field(description="The fix file rehearsed.")
    file_sha256: str = Field(description="sha256 of that file as it ran.")
    file_as_reported: bool = Field(description="It is the file the report wrote (sha256 "
                                   "equal); False: it was edited since.")
    scratch: str = Field(description="Where it ran (the scratch server's version; never "
                         "production).")
    seconds: float = Field(description="Wall time of the rehearsal.")
    steps: list[RehearsalStep] = Field(default_factory=list, description="The transcript's "
                                       "steps (also in the transcript file).")


class ActionItem(Model):
    text: str
    command: str | None = None
    verify: str | None = None


class ActionPhase(Model):
    phase: Literal["immediate", "fix", "verify", "prevent"]
    title: str
    items: list[ActionItem]


class RowDelta(Model):
    table: str
    before: int
    after: int
    basis: Literal["exact", "estimate"]
    churn: str | None = Field(default=None, description="Why the table removes rows by "
                              "design (then its rows leaving are not loss).")


class Changes(Model):
    """What changed between the baseline bundle and this one."""

    tables_dropped: list[str]
    tables_added: list[str]
    columns_dropped: list[str]
    columns_added: list[str]
    rows_fell: list[RowDelta]
    rows_grew: list[RowDelta]
    records_removed: list[str]
    records_added: list[str]
    foreign_keys_dropped: list[str]
    indexes_dropped: list[str]
    views_dropped: list[str] = Field(default_factory=list,
                                     description="Views, materialized views, foreign tables.")
    exact_compared: int = Field(description="Tables with exact counts on both sides.")
    not_counted: int = Field(description="Tables lacking an exact count on one side.")


class DanglingReferenceNote(Model):
    """A migration's foreign key to a model nothing creates (for the technical notes)."""

    migration: str = Field(description="app.name of the migration.")
    field: str
    target: str = Field(description="The model it points at (app.Model).")
    expected_table: str
    similar: list[str] = Field(default_factory=list,
                               description="Models of that name in other apps.")


#: Tenant verdicts, worst first, with the severity each carries.
VERDICTS: dict[str, Level] = {
    "schema_absent": "CRITICAL",
    "schema_missing": "CRITICAL",
    "tracker_missing": "HIGH",
    "records_missing": "HIGH",
    "unreadable": "HIGH",
    "behind_or_lost": "MEDIUM",
    "behind": "MEDIUM",
    "unverifiable": "MEDIUM",
    "not_a_tenant": "MEDIUM",
    "ghost_records": "LOW",
    "not_judged": "LOW",
    "ok": "LOW",
}
WORDS = {
    "schema_absent": "tenant listed, schema absent",
    "schema_missing": "recorded schema missing",
    "tracker_missing": "no django_migrations of its own",
    "records_missing": "records missing, schema present",
    "unreadable": "django_migrations unreadable",
    "behind_or_lost": "behind, or applied and lost",
    "behind": "behind (migrations pending)",
    "unverifiable": "unrecorded, not verifiable",
    "not_a_tenant": "schema not in the tenant table",
    "ghost_records": "records of migrations not in code",
    "not_judged": "not judged",
    "ok": "up to date",
}
#: Rows in the report itself; the full matrix is in the listings.
SHOWN = 25


class TenantRow(Model):
    """One schema of a schema-per-tenant database, judged on its own."""

    schema_name: str
    tenant: bool | None = Field(description="The tenant table lists it (None: not read).")
    schema_exists: bool
    tracker: Literal["present", "absent", "unreadable"] = Field(
        description="Its own django_migrations.")
    recorded: int = Field(description="Rows of its django_migrations.")
    expected: int | None = Field(default=None, description="Migrations of the apps that "
                                 "apply in it (the tenant apps).")
    recorded_own: int | None = Field(default=None, description="Of those, recorded.")
    verdict: Literal["ok", "behind", "behind_or_lost", "records_missing", "schema_missing",
                     "tracker_missing", "not_a_tenant", "schema_absent", "unreadable",
                     "unverifiable", "ghost_records", "not_judged"]
    severity: Level
    detail: str
    stopped_at: str | None = Field(default=None, description="Its last recorded migration "
                                   "of a tenant app, in the order migrate applies them.")
    migrations: list[str] = Field(default_factory=list, description="The migrations the "
                                  "verdict is about.")
    missing: list[str] = Field(default_factory=list, description="Effects absent.")
    fix: list[str] = Field(default_factory=list, description="What puts it right (shell "
                           "commands quoted; prose otherwise).")
    undecided: list[str] = Field(default_factory=list, description="Unrecorded migrations "
                                 "the schema cannot verify: left for a decision.")
    decide: list[str] = Field(default_factory=list, description="The decision those need "
                              "(prose), then the command that records them once decided.")
    fix_plan: list[tuple[str, str]] = Field(default_factory=list, description="The records "
                                            "the fix writes, in order.")
    fix_sql: str | None = Field(default=None, description="The same records as SQL.")


class TenantMatrix(Model):
    router: str
    public_schema: str
    tenant_table: str | None
    shared_apps: list[str]
    tenant_apps: list[str]
    error: str | None = Field(default=None, description="Why tenants were not judged.")
    rows: list[TenantRow]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.verdict] = out.get(r.verdict, 0) + 1
        return out


class Assessment(Model):
    schema_version: int = ASSESSMENT_SCHEMA_VERSION
    tool_version: str
    bundle_digest: str
    baseline_digest: str | None = None
    baseline_taken_at: datetime | None = Field(
        default=None, description="When the baseline was collected (UTC).")
    collected_at: datetime
    status: str = Field(description="Headline status line.")
    risks: dict[Dimension, Level]
    data_loss: DataLoss
    data_loss_basis: Literal["baseline", "server_log", "statistics", "structure"]
    data_loss_explanation: str
    findings: list[Finding]
    apps: list[AppSummary]
    migrations: list[MigrationStatus]
    timeline: list[TimelineEntry]
    hypotheses: list[Hypothesis]
    recovery_options: list[RecoveryOption]
    action_plan: list[ActionPhase]
    evidence_gaps: list[str] = Field(description="What could not be collected or judged.")
    reconciliation_note: str | None = Field(
        default=None, description="How the migrations were reconciled with the schema: where "
        "their effects came from, what was checked, what could not be.")
    changes: Changes | None = Field(default=None, description="Baseline comparison, if any.")
    relation_apps: dict[str, str] = Field(
        default_factory=dict, description="Each relation (schema.name) and the app it is "
        "attributed to (migration files, Django contrib names, app label prefix).")
    dangling_references: list[DanglingReferenceNote] = Field(default_factory=list)
    tenants: TenantMatrix | None = Field(
        default=None, description="Schema per tenant: one row per tenant schema.")

    def worst(self) -> Level:
        return max(self.risks.values(), key=level_rank)
