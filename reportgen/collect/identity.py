"""Identity: what the responder typed, and what the server says it is."""

from __future__ import annotations

from reportgen.bundle import Identity, Target
from reportgen.collect.provider import detect_provider, refine_provider
from reportgen.collect.queries import load
from reportgen.connection import (
    DsnSource,
    SessionInfo,
    Snapshot,
    search_path_schemas,
    typed_parameters,
)


def target_from(source: DsnSource) -> Target:
    typed = typed_parameters(source)
    return Target(
        source=source.origin,
        host=typed.get("host"),
        hostaddr=typed.get("hostaddr"),
        port=typed.get("port"),
        dbname=typed.get("dbname"),
        user=typed.get("user"),
        sslmode=typed.get("sslmode"),
        service=typed.get("service"),
    )


def collect_identity(snap: Snapshot, session: SessionInfo, target: Target) -> Identity:
    path = snap.session_search_path
    row = snap.query(load("identity"), {
        "search_path": path, "schemas": search_path_schemas(path, session.user)})[0]
    host = target.host or target.hostaddr or session.host
    markers, _err = snap.query_guarded(load("provider_markers"))
    provider = refine_provider(detect_provider(host, row["version_string"]), markers)
    return Identity(
        connected_host=session.host,
        connected_port=session.port,
        provider=provider,
        **{k: v for k, v in row.items()},
    )
