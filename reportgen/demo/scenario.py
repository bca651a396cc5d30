"""The reference incident as data: a fictional Django esports platform.

One definition produces both sides of the incident, so they can never drift apart:
- the codebase: Django migration files (organizations 0001…0012, teams 0001, 0002,
  0099…0101, competition 0001 pointing at a table that never existed, accounts, tournaments);
- the database: the schema those migrations created, with rows, and ``django_migrations``
  records for the other apps. The organizations/teams records are inserted (as the responder
  "faked" them on 2026-02-01) and then deleted, as happened in the incident, so the server's
  own statistics carry the trace of that DELETE.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources

# --- models ------------------------------------------------------------------------------

# Field kinds: char, text, int, bool, datetime, decimal, json, fk:<app.Model>
SQL_TYPES = {
    "char": "varchar(120)", "text": "text", "int": "integer", "bool": "boolean",
    "datetime": "timestamp with time zone", "decimal": "numeric(12,2)", "json": "jsonb",
}


@dataclass
class ModelDef:
    app: str
    name: str
    fields: list[tuple[str, str]]
    db_table: str | None = None
    rows: int = 20

    @property
    def table(self) -> str:
        return self.db_table or f"{self.app}_{self.name.lower()}"


@dataclass
class Migration:
    app: str
    name: str
    dependencies: list[tuple[str, str]]
    operations: list[tuple[str, ...]]  # ("CreateModel", Model) / ("AddField", Model, field)...
    initial: bool = False
    applied: bool = True  # applied to the database at some point
    recorded: bool = True  # its django_migrations row survives the incident
    faked_at: datetime | None = None  # re-recorded with --fake during the incident


@dataclass
class Scenario:
    models: dict[str, ModelDef] = field(default_factory=dict)
    migrations: list[Migration] = field(default_factory=list)
    contrib_records: list[tuple[str, str, datetime]] = field(default_factory=list)

    def model(self, app: str, name: str, fields: list[tuple[str, str]],
              db_table: str | None = None, rows: int = 20) -> ModelDef:
        m = ModelDef(app, name, fields, db_table, rows)
        self.models[f"{app}.{name}"] = m
        return m


GAMES = ["valorant", "cs2", "dota2", "lol", "pubg", "mlbb", "freefire", "efootball", "fc25",
         "codm", "r6"]
GAME_KINDS = ["profile", "stats", "roster"]
ANALYTICS = ["daily", "weekly", "match", "player", "heatmap", "funnel", "retention", "revenue"]
EXTRAS = ["achievement", "badge", "social_link", "media", "tag", "announcement", "event", "vod"]
DEPLOYED = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
FAKED = datetime(2026, 2, 1, 14, 30, 12, tzinfo=UTC)


def build() -> Scenario:
    s = Scenario()
    ts = [("created_at", "datetime")]
    # teams: 10 core tables in 0001, 49 in 0002, 2 chat tables in 0100 → 61.
    team = s.model("teams", "Team", [("name", "char"), ("tag", "char"), ("game", "char"),
                                      ("is_active", "bool"), *ts], rows=120)
    core = [team] + [
        s.model("teams", n, f, db_table=t, rows=r) for n, f, t, r in [
            ("TeamMembership", [("team", "fk:teams.Team"), ("user", "fk:auth.User"),
                                ("role", "char"), *ts], None, 600),
            ("TeamInvite", [("team", "fk:teams.Team"), ("email", "char"), *ts], None, 80),
            ("TeamJoinRequest", [("team", "fk:teams.Team"), ("user", "fk:auth.User"),
                                 ("message", "text"), *ts], None, 45),
            ("TeamSponsor", [("team", "fk:teams.Team"), ("sponsor", "char"),
                             ("amount", "decimal")], None, 30),
            ("TeamStats", [("team", "fk:teams.Team"), ("wins", "int"), ("losses", "int")],
             None, 120),
            ("RankingSettings", [("season", "char"), ("config", "json")],
             "teams_ranking_settings", 4),
            ("RankingCriteria", [("settings", "fk:teams.RankingSettings"), ("name", "char"),
                                 ("weight", "decimal")], "teams_ranking_criteria", 12),
            ("RankingHistory", [("team", "fk:teams.Team"), ("points", "int"), *ts],
             "teams_ranking_history", 2400),
            ("RankingBreakdown", [("history", "fk:teams.RankingHistory"),
                                  ("criteria", "fk:teams.RankingCriteria"), ("score", "decimal")],
             "teams_ranking_breakdown", 4800),
        ]]
    generic = []
    for game in GAMES:
        for kind in GAME_KINDS:
            generic.append(s.model("teams", f"{game.capitalize()}{kind.capitalize()}",
                                   [("team", "fk:teams.Team"), ("data", "json"), *ts],
                                   db_table=f"teams_{game}_{kind}", rows=40))
    for a in ANALYTICS:
        generic.append(s.model("teams", f"Analytics{a.capitalize()}",
                               [("team", "fk:teams.Team"), ("metric", "char"),
                                ("value", "decimal"), *ts],
                               db_table=f"teams_analytics_{a}", rows=300))
    for e in EXTRAS:
        generic.append(s.model("teams", "".join(p.capitalize() for p in e.split("_")),
                               [("team", "fk:teams.Team"), ("title", "char"), *ts],
                               db_table=f"teams_{e}", rows=25))
    chat = [s.model("teams", "ChatChannel", [("team", "fk:teams.Team"), ("name", "char")],
                    db_table="teams_chat_channel", rows=150),
            s.model("teams", "ChatMessage", [("channel", "fk:teams.ChatChannel"),
                                             ("body", "text"), *ts],
                    db_table="teams_chat_message", rows=3000)]

    # organizations: 9 tables over 0001…0007; 0008…0012 alter them.
    org = s.model("organizations", "Organization", [("name", "char"), ("owner", "fk:auth.User"),
                                                    *ts], rows=25)
    profile = s.model("organizations", "OrganizationProfile",
                      [("organization", "fk:organizations.Organization"), ("bio", "text")],
                      rows=25)
    membership = s.model("organizations", "Membership",
                         [("organization", "fk:organizations.Organization"),
                          ("user", "fk:auth.User"), ("role", "char")], rows=140)
    org_membership = s.model("organizations", "OrgMembership",
                             [("organization", "fk:organizations.Organization"),
                              ("team", "fk:teams.Team"), *ts],
                             db_table="organizations_org_membership", rows=60)
    org_ranking = s.model("organizations", "OrgRanking",
                          [("organization", "fk:organizations.Organization"), ("rank", "int")],
                          db_table="organizations_org_ranking", rows=25)
    ranking = s.model("organizations", "Ranking", [("season", "char"), ("published", "bool")],
                      rows=6)
    team_invite = s.model("organizations", "TeamInvite",
                          [("organization", "fk:organizations.Organization"),
                           ("email", "char"), *ts], db_table="organizations_team_invite", rows=40)
    activity = s.model("organizations", "ActivityLog",
                       [("organization", "fk:organizations.Organization"), ("action", "char"),
                        *ts], db_table="organizations_activity_log", rows=900)
    migration_map = s.model("organizations", "MigrationMap",
                            [("legacy_id", "int"), ("organization",
                                                    "fk:organizations.Organization")],
                            db_table="organizations_migration_map", rows=25)

    # project apps whose records survive
    profile_acc = s.model("accounts", "UserProfile", [("user", "fk:auth.User"),
                                                      ("display_name", "char")], rows=300)
    notif = s.model("accounts", "NotificationSetting", [("user", "fk:auth.User"),
                                                        ("email_enabled", "bool")], rows=300)
    tourn = s.model("tournaments", "Tournament", [("name", "char"), ("starts_at", "datetime")],
                    rows=12)
    reg = s.model("tournaments", "Registration", [("tournament", "fk:tournaments.Tournament"),
                                                  ("team", "fk:teams.Team"), *ts], rows=90)
    match = s.model("tournaments", "Match", [("tournament", "fk:tournaments.Tournament"),
                                             ("home", "fk:teams.Team"), ("away", "fk:teams.Team"),
                                             ("played_at", "datetime")], rows=200)
    competition = s.model("competition", "Competition",
                          [("name", "char"), ("team", "fk:organizations.Team"), *ts], rows=0)

    def t(hours: float) -> datetime:
        return DEPLOYED + timedelta(hours=hours)

    mig = s.migrations
    mig.append(Migration("accounts", "0001_initial", [("auth", "0012_alter_user_first_name_"
                                                               "max_length")],
                         [("CreateModel", "accounts.UserProfile")], initial=True))
    for i, label in enumerate(["add_notifications", "profile_display", "notif_defaults",
                               "profile_index", "backfill_profiles", "notif_index",
                               "profile_constraints"], start=2):
        prev = mig[-1].name
        ops: list[tuple[str, ...]] = [("AlterModelOptions", "accounts.UserProfile")]
        if label == "add_notifications":
            ops = [("CreateModel", "accounts.NotificationSetting")]
        elif label == "backfill_profiles":
            ops = [("RunPython",)]
        mig.append(Migration("accounts", f"{i:04d}_{label}", [("accounts", prev)], ops))
    mig.append(Migration("teams", "0001_initial", [("auth", "0012_alter_user_first_name_"
                                                            "max_length")],
                         [("CreateModel", f"teams.{m.name}") for m in core], initial=True,
                         recorded=False))
    mig.append(Migration("teams", "0002_initial", [("teams", "0001_initial")],
                         [("CreateModel", f"teams.{m.name}") for m in generic], initial=True,
                         recorded=False))
    mig.append(Migration("teams", "0099_team_region", [("teams", "0002_initial")],
                         [("AddField", "teams.Team", "region:char")], recorded=False,
                         faked_at=FAKED + timedelta(minutes=2, seconds=40)))
    mig.append(Migration("teams", "0100_chat", [("teams", "0099_team_region")],
                         [("CreateModel", "teams.ChatChannel"),
                          ("CreateModel", "teams.ChatMessage")], recorded=False,
                         faked_at=FAKED + timedelta(minutes=2, seconds=41)))
    mig.append(Migration("teams", "0101_team_name_index", [("teams", "0100_chat")],
                         [("AddIndex", "teams.Team", "name", "teams_team_name_idx")],
                         recorded=False, faked_at=FAKED + timedelta(minutes=2, seconds=42)))
    org_steps: list[tuple[str, list[tuple[str, ...]]]] = [
        ("0001_initial", [("CreateModel", "organizations.Organization"),
                          ("CreateModel", "organizations.OrganizationProfile"),
                          ("CreateModel", "organizations.Membership")]),
        ("0002_org_membership", [("CreateModel", "organizations.OrgMembership")]),
        ("0003_org_ranking", [("CreateModel", "organizations.OrgRanking")]),
        ("0004_ranking", [("CreateModel", "organizations.Ranking")]),
        ("0005_team_invite", [("CreateModel", "organizations.TeamInvite")]),
        ("0006_activity_log", [("CreateModel", "organizations.ActivityLog")]),
        ("0007_migration_map", [("CreateModel", "organizations.MigrationMap")]),
        ("0008_organization_slug", [("AddField", "organizations.Organization", "slug:char")]),
        ("0009_membership_joined_at",
         [("AddField", "organizations.Membership", "joined_at:datetime")]),
        ("0010_activity_log_index",
         [("AddIndex", "organizations.ActivityLog", "created_at",
           "organizations_activity_created_idx")]),
        ("0011_backfill_slugs", [("RunPython",)]),
        ("0012_alter_membership_invite_team_fk",
         [("AddField", "organizations.TeamInvite", "team:fk:teams.Team")]),
    ]
    for i, (name, ops) in enumerate(org_steps):
        deps = [("organizations", org_steps[i - 1][0])] if i else [
            ("auth", "0012_alter_user_first_name_max_length")]
        if name == "0002_org_membership":
            deps.append(("teams", "0001_initial"))
        mig.append(Migration("organizations", name, deps, ops, initial=(i == 0), recorded=False,
                             faked_at=FAKED + timedelta(seconds=5 * i)))
    mig.append(Migration("tournaments", "0001_initial", [("teams", "0001_initial")],
                         [("CreateModel", "tournaments.Tournament"),
                          ("CreateModel", "tournaments.Registration")], initial=True))
    for i, label in enumerate(["match", "tournament_options", "match_index", "registration_idx",
                               "seed_data"], start=2):
        ops = [("CreateModel", "tournaments.Match")] if label == "match" else (
            [("RunPython",)] if label == "seed_data" else
            [("AlterModelOptions", "tournaments.Tournament")])
        mig.append(Migration("tournaments", f"{i:04d}_{label}",
                             [("tournaments", mig[-1].name)], ops))
    mig.append(Migration("competition", "0001_add_competition_models",
                         [("organizations", "0012_alter_membership_invite_team_fk"),
                          ("teams", "0101_team_name_index")],
                         [("CreateModel", "competition.Competition")], initial=True,
                         applied=False, recorded=False))
    contrib = [("contenttypes", "0001_initial"), ("contenttypes", "0002_remove_content_type_name"),
               ("auth", "0001_initial"), ("auth", "0002_alter_permission_name_max_length"),
               ("auth", "0003_alter_user_email_max_length"),
               ("auth", "0004_alter_user_username_opts"),
               ("auth", "0005_alter_user_last_login_null"),
               ("auth", "0006_require_contenttypes_0002"),
               ("auth", "0007_alter_validators_add_error_messages"),
               ("auth", "0008_alter_user_username_max_length"),
               ("auth", "0009_alter_user_last_name_max_length"),
               ("auth", "0010_alter_group_name_max_length"),
               ("auth", "0011_update_proxy_permissions"),
               ("auth", "0012_alter_user_first_name_max_length"), ("admin", "0001_initial"),
               ("admin", "0002_logentry_remove_auto_add"),
               ("admin", "0003_logentry_add_action_flag_choices"), ("sessions", "0001_initial"),
               ("sites", "0001_initial"), ("sites", "0002_alter_domain_unique")]
    s.contrib_records = [(a, n, t(i * 0.001)) for i, (a, n) in enumerate(contrib)]
    _ = (profile, membership, org_membership, org_ranking, ranking, team_invite, activity,
         migration_map, profile_acc, notif, tourn, reg, match, competition, chat, org)
    return s


# --- codebase ------------------------------------------------------------------------------

def _field_code(kind: str) -> str:
    if kind.startswith("fk:"):
        return (f"models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, "
                f"to={_to(kind[3:])!r})")
    return {
        "char": "models.CharField(max_length=120)", "text": "models.TextField()",
        "int": "models.IntegerField(default=0)", "bool": "models.BooleanField(default=True)",
        "datetime": "models.DateTimeField(auto_now_add=True)",
        "decimal": "models.DecimalField(decimal_places=2, max_digits=12)",
        "json": "models.JSONField(default=dict)",
    }[kind]


def _to(target: str) -> str:
    return "auth.user" if target == "auth.User" else target


def migration_source(s: Scenario, m: Migration) -> str:
    lines = ["# Generated by Django 5.0 (reportgen demo scenario)", "",
             "import django.db.models.deletion", "from django.db import migrations, models", "",
             "", "class Migration(migrations.Migration):", ""]
    if m.initial:
        lines += ["    initial = True", ""]
    lines.append("    dependencies = [")
    lines += [f"        ({a!r}, {n!r})," for a, n in m.dependencies]
    lines += ["    ]", "", "    operations = ["]
    for op in m.operations:
        kind = op[0]
        if kind == "CreateModel":
            md = s.models[op[1]]
            lines.append("        migrations.CreateModel(")
            lines.append(f"            name={md.name!r},")
            lines.append("            fields=[")
            lines.append("                ('id', models.BigAutoField(auto_created=True, "
                         "primary_key=True, serialize=False, verbose_name='ID')),")
            for fname, fkind in md.fields:
                lines.append(f"                ({fname!r}, {_field_code(fkind)}),")
            lines.append("            ],")
            if md.db_table:
                lines.append(f"            options={{'db_table': {md.db_table!r}}},")
            lines.append("        ),")
        elif kind == "AddField":
            md = s.models[op[1]]
            fname, fkind = op[2].split(":", 1)
            lines += ["        migrations.AddField(",
                      f"            model_name={md.name.lower()!r},",
                      f"            name={fname!r},", f"            field={_field_code(fkind)},",
                      "        ),"]
        elif kind == "AddIndex":
            md = s.models[op[1]]
            lines += ["        migrations.AddIndex(",
                      f"            model_name={md.name.lower()!r},",
                      f"            index=models.Index(fields=[{op[2]!r}], name={op[3]!r}),",
                      "        ),"]
        elif kind == "AlterModelOptions":
            md = s.models[op[1]]
            lines += ["        migrations.AlterModelOptions(",
                      f"            name={md.name.lower()!r},",
                      "            options={'ordering': ['id']},", "        ),"]
        elif kind == "RunPython":
            lines.append("        migrations.RunPython(forwards, migrations.RunPython.noop),")
    lines += ["    ]", ""]
    if any(op[0] == "RunPython" for op in m.operations):
        lines[5:5] = ["", "def forwards(apps, schema_editor):",
                      "    pass  # data migration: its effect is on rows, not on the schema", ""]
    return "\n".join(lines)


def codebase_files(s: Scenario) -> dict[str, str]:
    """Relative path → file content, for the demo project directory."""
    files: dict[str, str] = {}
    apps = sorted({m.app for m in s.migrations})
    for app in apps:
        files[f"apps/{app}/__init__.py"] = ""
        files[f"apps/{app}/models.py"] = "# The demo keeps only the migration files.\n"
        files[f"apps/{app}/migrations/__init__.py"] = ""
    for m in s.migrations:
        files[f"apps/{m.app}/migrations/{m.name}.py"] = migration_source(s, m)
    files["check_tables.py"] = CHECK_TABLES
    files["README.md"] = ("# DeltaCrown (fictional)\n\nThe reportgen demo's codebase: the "
                          "migration files of the reference incident.\n")
    return files


CHECK_TABLES = '''"""Old diagnostic script (the one run by accident during the incident)."""
import psycopg2

conn = psycopg2.connect()
cur = conn.cursor()
cur.execute(
    "SELECT table_name FROM information_schema.tables "
    "WHERE table_name LIKE 'organizations_%' AND table_schema = 'orgs'"
)
tables = [r[0] for r in cur.fetchall()]
print(f"Found {len(tables)} tables")
for t in tables:
    cur.execute(f"DROP TABLE IF EXISTS {t} CASCADE")
print("Dropped all")
'''


# --- database ------------------------------------------------------------------------------

def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _short_hash(*parts: str) -> str:
    return hashlib.md5("".join(parts).encode(), usedforsecurity=False).hexdigest()[:8]


CONTRIB_SQL = """
CREATE TABLE django_content_type (id serial PRIMARY KEY, app_label varchar(100) NOT NULL,
  model varchar(100) NOT NULL, UNIQUE (app_label, model));
CREATE TABLE auth_permission (id serial PRIMARY KEY, name varchar(255) NOT NULL,
  content_type_id integer NOT NULL REFERENCES django_content_type(id) DEFERRABLE INITIALLY
  DEFERRED, codename varchar(100) NOT NULL);
CREATE TABLE auth_group (id serial PRIMARY KEY, name varchar(150) NOT NULL UNIQUE);
CREATE TABLE auth_group_permissions (id bigserial PRIMARY KEY, group_id integer NOT NULL
  REFERENCES auth_group(id) DEFERRABLE INITIALLY DEFERRED, permission_id integer NOT NULL
  REFERENCES auth_permission(id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE auth_user (id serial PRIMARY KEY, password varchar(128) NOT NULL,
  last_login timestamptz, is_superuser boolean NOT NULL, username varchar(150) NOT NULL UNIQUE,
  first_name varchar(150) NOT NULL, last_name varchar(150) NOT NULL,
  email varchar(254) NOT NULL, is_staff boolean NOT NULL, is_active boolean NOT NULL,
  date_joined timestamptz NOT NULL);
CREATE TABLE auth_user_groups (id bigserial PRIMARY KEY, user_id integer NOT NULL REFERENCES
  auth_user(id) DEFERRABLE INITIALLY DEFERRED, group_id integer NOT NULL REFERENCES
  auth_group(id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE auth_user_user_permissions (id bigserial PRIMARY KEY, user_id integer NOT NULL
  REFERENCES auth_user(id) DEFERRABLE INITIALLY DEFERRED, permission_id integer NOT NULL
  REFERENCES auth_permission(id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE django_admin_log (id serial PRIMARY KEY, action_time timestamptz NOT NULL,
  object_id text, object_repr varchar(200) NOT NULL, action_flag smallint NOT NULL,
  change_message text NOT NULL, content_type_id integer REFERENCES django_content_type(id)
  DEFERRABLE INITIALLY DEFERRED, user_id integer NOT NULL REFERENCES auth_user(id)
  DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE django_session (session_key varchar(40) PRIMARY KEY, session_data text NOT NULL,
  expire_date timestamptz NOT NULL);
CREATE TABLE django_site (id serial PRIMARY KEY, domain varchar(100) NOT NULL UNIQUE,
  name varchar(50) NOT NULL);
CREATE TABLE django_migrations (id bigserial PRIMARY KEY, app varchar(255) NOT NULL,
  name varchar(255) NOT NULL, applied timestamptz NOT NULL);
INSERT INTO django_content_type (app_label, model)
  SELECT 'app' || i, 'model' || i FROM generate_series(1, 40) i;
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
  is_staff, is_active, date_joined)
  SELECT 'pbkdf2_sha256$demo', false, 'player' || i, 'P', 'Layer', 'p' || i || '@example.com',
         false, true, timestamptz '2026-01-12 09:00+00' + i * interval '1 hour'
  FROM generate_series(1, 500) i;
INSERT INTO django_site (domain, name) VALUES ('deltacrown.example', 'DeltaCrown');
INSERT INTO django_session SELECT md5(i::text), 'e30=', now() + interval '14 days'
  FROM generate_series(1, 60) i;
"""


def _column_sql(s: Scenario, fname: str, kind: str) -> tuple[str, str | None]:
    if kind.startswith("fk:"):
        target = kind[3:]
        ref = "auth_user" if target == "auth.User" else s.models[target].table
        return f"{_ident(fname + '_id')} bigint REFERENCES {_ident(ref)}(id) DEFERRABLE " \
               "INITIALLY DEFERRED", fname + "_id"
    return f"{_ident(fname)} {SQL_TYPES[kind]}", None


def _value_sql(s: Scenario, kind: str) -> str:
    if kind.startswith("fk:"):
        target = kind[3:]
        n = 500 if target == "auth.User" else s.models[target].rows
        return f"(i % {max(n, 1)}) + 1"
    return {"char": "'item ' || i", "text": "repeat('x', 40)", "int": "i", "bool": "i % 2 = 0",
            "datetime": "timestamptz '2026-01-12 09:00+00' + i * interval '1 minute'",
            "decimal": "(i * 1.5)::numeric(12,2)", "json": "jsonb_build_object('n', i)"}[kind]


def schema_sql(s: Scenario) -> str:
    """DDL + rows for every model whose migrations were applied, in creation order."""
    out = [CONTRIB_SQL]
    fields_of: dict[str, list[tuple[str, str]]] = {k: list(m.fields) for k, m in s.models.items()}
    created: list[str] = []
    for mig in s.migrations:
        if not mig.applied:
            continue
        for op in mig.operations:
            if op[0] == "CreateModel":
                created.append(op[1])
            elif op[0] == "AddField":
                fields_of[op[1]].append(tuple(op[2].split(":", 1)))  # type: ignore[arg-type]
    for key in created:
        md = s.models[key]
        cols = ["id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"]
        idx = []
        for fname, kind in fields_of[key]:
            col, fk_col = _column_sql(s, fname, kind)
            cols.append(col)
            if fk_col:
                iname = f"{md.table}_{fk_col}_{_short_hash(md.table, fk_col)}"[-63:]
                idx.append(f"CREATE INDEX {_ident(iname)} ON {_ident(md.table)} "
                           f"({_ident(fk_col)});")
        out.append(f"CREATE TABLE {_ident(md.table)} ({', '.join(cols)});")
        out.extend(idx)
    for mig in s.migrations:
        for op in mig.operations:
            if op[0] == "AddIndex" and mig.applied:
                md = s.models[op[1]]
                out.append(f"CREATE INDEX {_ident(op[3])} ON {_ident(md.table)} "
                           f"({_ident(op[2])});")
    for key in created:  # rows, parents first (creation order respects FKs)
        md = s.models[key]
        if md.rows <= 0:
            continue
        names = [(f + "_id") if k.startswith("fk:") else f for f, k in fields_of[key]]
        values = [_value_sql(s, k) for _, k in fields_of[key]]
        out.append(f"INSERT INTO {_ident(md.table)} ({', '.join(_ident(n) for n in names)}) "
                   f"SELECT {', '.join(values)} FROM generate_series(1, {md.rows}) i;")
    return "\n".join(out)


def records_sql(s: Scenario) -> str:
    """django_migrations as it was before the incident, then the incident's own statements."""
    rows = [(a, n, when) for a, n, when in s.contrib_records]
    hour = 1.0
    for m in s.migrations:
        if m.applied and m.recorded:
            rows.append((m.app, m.name, DEPLOYED + timedelta(hours=hour)))
            hour += 0.01
    faked = [(m.app, m.name, m.faked_at) for m in s.migrations if m.faked_at is not None]
    values = ",\n  ".join(f"('{a}', '{n}', timestamptz '{w.isoformat()}')" for a, n, w in rows)
    fvalues = ",\n  ".join(f"('{a}', '{n}', timestamptz '{w.isoformat()}')"
                           for a, n, w in faked if w is not None)
    return (f"INSERT INTO django_migrations (app, name, applied) VALUES\n  {values};\n"
            "-- 2026-02-01 14:30-14:33 UTC: the responder re-records ('fakes') migrations\n"
            f"INSERT INTO django_migrations (app, name, applied) VALUES\n  {fvalues};\n"
            "-- 14:34 UTC: panic clean-up: the records for organizations and teams are deleted\n"
            "DELETE FROM django_migrations WHERE app IN ('organizations', 'teams');\n")


#: The last event of the reference incident's timeline ("Read-only assessment started").
INCIDENT_END = datetime(2026, 2, 1, 14, 40, tzinfo=UTC)
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00")


def shift_times(text: str, delta: timedelta) -> str:
    """Every UTC timestamp of the demo's SQL or timeline moved by ``delta``: the demo's
    incident then happens relative to its own run (restore window, timeline, server start
    tell one story)."""
    return _ISO.sub(lambda m: (datetime.fromisoformat(m.group(0)) + delta).isoformat(), text)


def relative_to(now: datetime) -> timedelta:
    """The shift that puts the incident's last event five minutes before ``now``."""
    return (now - timedelta(minutes=5)).replace(microsecond=0) - INCIDENT_END


def timeline_csv(delta: timedelta = timedelta(0)) -> str:
    """The responder's timeline of the reference incident (times approximate, UTC), moved
    by ``delta``."""
    text = resources.files("reportgen.demo").joinpath("timeline.csv").read_text("utf-8")
    return shift_times(text, delta)

