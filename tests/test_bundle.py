"""Loading, validating and sealing bundles: every problem is one clear line."""

from __future__ import annotations

import json

import pytest

from reportgen.bundle import SCHEMA_VERSION, bundle_json_schema, load_bundle, parse_bundle
from reportgen.errors import InputError
from tests.conftest import FIXTURES


def test_roundtrip_is_byte_stable(demo_bundle, tmp_path):
    sealed = demo_bundle.sealed()
    p = tmp_path / "b.json"
    p.write_text(sealed.to_json(), encoding="utf-8")
    again = load_bundle(p)
    assert again.model_dump() == sealed.model_dump() and again.to_json() == sealed.to_json()
    assert again.digest == again.compute_digest()


def test_bundle_from_an_older_writer_still_verifies():
    """The committed fixture predates optional fields added since; its digest still holds,
    and one changed byte is still caught."""
    text = (FIXTURES / "demo-evidence-older.json").read_text("utf-8")
    assert parse_bundle(text, "old.json").migrations.others == []
    with pytest.raises(InputError, match="digest mismatch"):
        parse_bundle(text.replace('"row_estimate": 300', '"row_estimate": 301', 1), "old.json")


def test_changed_byte_is_detected(demo_bundle_data):
    demo_bundle_data = json.loads(json.dumps(demo_bundle_data))
    demo_bundle_data["inventory"]["relations"][0]["row_estimate"] += 1
    with pytest.raises(InputError, match="digest mismatch"):
        parse_bundle(json.dumps(demo_bundle_data), "b.json")
    parse_bundle(json.dumps(demo_bundle_data), "b.json", verify_digest=False)


@pytest.mark.parametrize("text, message", [
    ('{"schema_version": 1, "tool"', "not valid JSON"),
    ("[1, 2]", "is a JSON object"),
    ('{"tool": {}}', "schema_version: missing"),
    ('{"schema_version": 99}', "newer than this reportgen understands"),
    ('{"schema_version": 1, "schema_version": 1}', "duplicate key"),
])
def test_bad_bundles(text, message):
    with pytest.raises(InputError, match=message) as exc:
        parse_bundle(text, "bad.json")
    assert exc.value.message.startswith("bad.json: ") and "\n" not in exc.value.message


def test_wrong_type_names_the_field(demo_bundle_data):
    d = json.loads(json.dumps(demo_bundle_data))
    d["inventory"]["relations"][3]["index_count"] = "many"
    with pytest.raises(InputError, match=r"field inventory\.relations\.3\.index_count"):
        parse_bundle(json.dumps(d), "b.json", verify_digest=False)


def test_missing_file_and_not_utf8(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_bundle(tmp_path / "nope.json")
    p = tmp_path / "bin.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        load_bundle(p)


def test_json_schema_is_generated_and_documented():
    schema = bundle_json_schema()
    assert schema["properties"]["schema_version"]["description"]
    rel = schema["$defs"]["Relation"]["properties"]
    assert all(v.get("description") for v in rel.values())
    assert SCHEMA_VERSION == 2  # 2: each migration's creates/removes written by its reader


def test_digest_is_first_and_covers_the_file_bytes(demo_bundle):
    text = demo_bundle.sealed().to_json()
    assert text.startswith('{\n  "digest": "sha256:')
    parse_bundle(text, "new.json")
    changed = text.replace('"row_estimate": 300', '"row_estimate": 301', 1)
    assert changed != text
    with pytest.raises(InputError, match="digest mismatch"):
        parse_bundle(changed, "new.json")
    reindented = json.dumps(json.loads(text))  # same content, other bytes: not the same file
    with pytest.raises(InputError, match="digest mismatch"):
        parse_bundle(reindented, "new.json")


def test_instances_given_the_same_fields_share_one_set_until_one_changes():
    """Relations, columns, keys and indexes share pydantic's set of given fields (half a
    large catalog's memory); an assignment that adds a field copies it first, so what one
    instance says it was given never changes another's."""
    from reportgen.bundle import Column

    a, b = (Column.model_validate_json(f'{{"name": "{n}", "type": "int", "not_null": true}}')
            for n in "ab")
    assert a.model_fields_set is b.model_fields_set == {"name", "type", "not_null"}
    a.generated = True
    assert a.model_fields_set == {"name", "type", "not_null", "generated"}
    assert b.model_fields_set == {"name", "type", "not_null"}
    assert b.model_dump(exclude_unset=True) == {"name": "b", "type": "int", "not_null": True}
    c = b.model_copy(update={"generated": True})
    assert "generated" in c.model_fields_set and "generated" not in b.model_fields_set
