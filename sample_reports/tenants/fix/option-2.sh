#!/usr/bin/env bash
# reportgen fix for Option 2: Repair 3 tenant schema(s), each on its own
# When it applies: Tenant schemas are behind, or their migration records are missing while their
# schema is present (the tenant matrix). Data-loss risk: LOW.
# Verified against: evidence bundle
# sha256:dbb0fef223c68b6cb5d61132cbb82c316a3273658a719b037e8ee0840d7a0e38 from database saas on
# 127.0.0.1 (system identifier 7715507132992673893), collected 2026-12-04 17:48:23 UTC.
# Re-assess before running it if the database changed since.
# Undo: take a bundle before running it; there is no automatic undo.
# Run: bash fix/option-2.sh
# From: the application's folder (where manage.py is): copy fix/ there, or give its path
set -euo pipefail
python manage.py shell -c \
'from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
connection.set_schema("globex", include_public=False)
recorder = MigrationRecorder(connection)
for app, name in [
("knox", "0001_initial"),
("knox", "0002_auto_20150916_1425"),
("knox", "0003_auto_20150916_1526"),
("knox", "0004_authtoken_expires"),
("knox", "0005_authtoken_token_key"),
("knox", "0006_auto_20160818_0932"),
("knox", "0007_auto_20190111_0542"),
]: recorder.record_applied(app, name)'
python manage.py shell -c \
'from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
connection.set_schema("hooli", include_public=False)
recorder = MigrationRecorder(connection)
for app, name in [
("contenttypes", "0001_initial"),
("auth", "0001_initial"),
("admin", "0001_initial"),
("admin", "0002_logentry_remove_auto_add"),
("admin", "0003_logentry_add_action_flag_choices"),
("contenttypes", "0002_remove_content_type_name"),
("auth", "0002_alter_permission_name_max_length"),
("auth", "0003_alter_user_email_max_length"),
("auth", "0004_alter_user_username_opts"),
("auth", "0005_alter_user_last_login_null"),
("auth", "0006_require_contenttypes_0002"),
("auth", "0007_alter_validators_add_error_messages"),
("auth", "0008_alter_user_username_max_length"),
("auth", "0009_alter_user_last_name_max_length"),
("auth", "0010_alter_group_name_max_length"),
("auth", "0011_update_proxy_permissions"),
("auth", "0012_alter_user_first_name_max_length"),
("customers", "0001_initial"),
("knox", "0001_initial"),
("knox", "0002_auto_20150916_1425"),
("knox", "0003_auto_20150916_1526"),
("knox", "0004_authtoken_expires"),
("knox", "0005_authtoken_token_key"),
("knox", "0006_auto_20160818_0932"),
("knox", "0007_auto_20190111_0542"),
("sessions", "0001_initial"),
("taggit", "0001_initial"),
("taggit", "0002_auto_20150616_2121"),
("taggit", "0003_taggeditem_add_unique_index"),
]: recorder.record_applied(app, name)'
python manage.py migrate_schemas --schema=initech
