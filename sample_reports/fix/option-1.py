# reportgen fix for Option 1: Re-record the verified migrations (Django's MigrationRecorder)
# When it applies: Tables are present and migration records are missing. Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:c76a8e1b7b0c4ebbf488c016258d61f29b3e6deb8e0ef2aa5d5740ed15ffa543 from database
# deltacrown on ep-lively-queen-a13dp7w6.ap-southeast-1.aws.neon.tech (system identifier
# 7715506954900481598), collected 2026-12-04 17:47:33 UTC. Re-assess before running it if the
# database changed since.
# Undo: set UNDO = True in the Python file and run it the same way: exactly these records are
# removed again (the SQL file's rows are the same ones).
# Run: python manage.py shell < fix/option-1.py
# From: the application's folder (where manage.py is): copy fix/ there, or give its path
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
UNDO = False # True: remove exactly these records again (record_unapplied)
recorder = MigrationRecorder(connections["default"])
PLAN = [
("organizations", "0001_initial"),
("teams", "0001_initial"),
("organizations", "0002_org_membership"),
("organizations", "0003_org_ranking"),
("organizations", "0004_ranking"),
("organizations", "0005_team_invite"),
("organizations", "0006_activity_log"),
("organizations", "0007_migration_map"),
("organizations", "0008_organization_slug"),
("organizations", "0009_membership_joined_at"),
("organizations", "0010_activity_log_index"),
("organizations", "0011_backfill_slugs"),
("organizations", "0012_alter_membership_invite_team_fk"),
("teams", "0002_initial"),
("teams", "0099_team_region"),
("teams", "0100_chat"),
("teams", "0101_team_name_index"),
]
step = recorder.record_unapplied if UNDO else recorder.record_applied
for app, name in PLAN: step(app, name)
print(("removed" if UNDO else "recorded"), len(PLAN), "migration record(s)")
