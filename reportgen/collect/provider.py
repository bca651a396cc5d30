"""Hosting provider from the host name (and the version string), with the evidence named."""

from __future__ import annotations

import ipaddress
import re

from reportgen.bundle import Provider

_NEON = re.compile(
    r"^(?P<ep>ep-[a-z0-9-]+?)(?P<pooler>-pooler)?\.(?P<region>[a-z0-9-]+)\."
    r"(?:(?P<cloud>aws|azure|gcp)\.)?neon\.tech$")
_RDS = re.compile(r"^(?P<id>[a-z0-9-]+)\.(?P<kind>cluster-(?:ro-|custom-)?|proxy-)?"
                  r"(?P<hash>[a-z0-9]+)\.(?P<region>[a-z0-9-]+)\.rds\.amazonaws\.com(?:\.cn)?$")
_AZURE = re.compile(r"^(?P<id>[a-z0-9-]+)\.postgres\.database\.azure\.com$")
_SUPABASE = re.compile(r"^(?:db\.(?P<ref>[a-z0-9]+)\.supabase\.co|"
                       r"aws-\d+-(?P<region>[a-z0-9-]+)\.pooler\.supabase\.com)$")
# us-east-1: ec2-<ip>.compute-1.amazonaws.com; elsewhere ec2-<ip>.<region>.compute.amazonaws.com
_HEROKU = re.compile(r"^ec2-[0-9-]+\.(?:(?P<region>[a-z0-9-]+)\.compute|compute-1)"
                     r"\.amazonaws\.com$")
_CRUNCHY = re.compile(r"^p\.(?P<id>[a-z0-9]+)\.db\.postgresbridge\.com$")
_CLOUDSQL_SOCKET = re.compile(r"^/cloudsql/(?P<id>[^/]+)$")


def detect_provider(host: str | None, version_string: str = "") -> Provider:
    h = (host or "").strip().lower().rstrip(".")
    if not h or h.startswith("/"):
        m = _CLOUDSQL_SOCKET.match(h)
        if m:
            return Provider(name="cloudsql", endpoint=m.group("id"),
                            evidence=[f"Unix socket path {host} (Cloud SQL connector)"])
        return Provider(name="self-hosted", evidence=[f"local Unix socket ({host or 'default'})"])
    if m := _NEON.match(h):
        return Provider(name="neon", endpoint=m.group("ep"), region=m.group("region"),
                        pooler=bool(m.group("pooler")),
                        evidence=[f"host {host} matches Neon's ep-<id>[-pooler].<region>"
                                  ".neon.tech; the endpoint id identifies the branch"])
    if m := _RDS.match(h):
        kind = m.group("kind") or ""
        aurora = kind.startswith("cluster-")
        what = {"cluster-": "an Aurora cluster endpoint", "cluster-ro-": "an Aurora reader "
                "endpoint", "cluster-custom-": "an Aurora custom endpoint",
                "proxy-": "an RDS Proxy endpoint"}.get(kind, "an RDS instance endpoint")
        return Provider(name="aurora" if aurora else "rds", endpoint=m.group("id"),
                        region=m.group("region"), pooler=kind == "proxy-",
                        evidence=[f"host {host} is {what} (*.rds.amazonaws.com)"])
    if m := _AZURE.match(h):
        return Provider(name="azure", endpoint=m.group("id"),
                        evidence=[f"host {host} is *.postgres.database.azure.com"])
    if m := _SUPABASE.match(h):
        return Provider(name="supabase", endpoint=m.group("ref"), region=m.group("region"),
                        pooler="pooler" in h,
                        evidence=[f"host {host} is a Supabase host"])
    if m := _HEROKU.match(h):
        return Provider(name="heroku", region=m.group("region") or "us-east-1",
                        evidence=[f"host {host} is an EC2 host name as Heroku Postgres uses"])
    if m := _CRUNCHY.match(h):
        return Provider(name="crunchybridge", endpoint=m.group("id"),
                        evidence=[f"host {host} is *.db.postgresbridge.com"])
    if "cloudsql" in version_string.lower():
        return Provider(name="cloudsql", evidence=["version() mentions Cloud SQL"])
    if h in ("localhost", "localhost.localdomain") or _is_private_or_loopback(h):
        return Provider(name="self-hosted",
                        evidence=[f"host {host} is a loopback or private address"])
    return Provider(name="unknown", evidence=[f"host {host} matches no known provider pattern"])


MARKERS: dict[str, list[str]] = {
    "aurora": ["function:aurora_version", "setting:apg_", "setting:aurora."],
    "rds": ["role:rds_superuser", "role:rdsadmin", "setting:rds."],
    "cloudsql": ["role:cloudsqlsuperuser", "role:cloudsqladmin", "setting:cloudsql."],
    "azure": ["role:azure_pg_admin", "role:azuresu", "setting:azure."],
    "supabase": ["role:supabase_admin", "setting:supabase."],
    "neon": ["role:neon_superuser", "setting:neon."],
}


def refine_provider(p: Provider, markers: list[dict[str, str | None]]) -> Provider:
    """Add what the server itself shows (roles, settings, functions only some providers
    create) to the host-name guess. The host name wins when both speak; markers decide when
    the host says nothing (an IP address, a proxy on 127.0.0.1, a custom DNS name)."""
    seen = [f"{m['kind']}:{m['name']}" for m in markers]
    votes: dict[str, list[str]] = {}
    for provider, prefixes in MARKERS.items():
        hits = [s for s in seen for pre in prefixes if s.startswith(pre)]
        if hits:
            votes[provider] = sorted(set(hits))
    if "aurora" in votes:
        votes.pop("rds", None)
    evidence = list(p.evidence)
    for provider, hits in sorted(votes.items()):
        evidence.append(f"server shows {provider} markers: {', '.join(hits[:4])}")
    name = p.name
    if p.name in ("unknown", "self-hosted") and len(votes) == 1:
        name = next(iter(votes))
    elif p.name == "rds" and "aurora" in votes:
        name = "aurora"
    timeline = next((m["value"] for m in markers if m["name"] == "neon.timeline_id"), None)
    if timeline:
        evidence.append(f"neon.timeline_id = {timeline} (identifies the branch's timeline)")
    confirmed: bool | None = None
    if name in MARKERS:  # a provider the server can vouch for
        confirmed = name in votes
        if not confirmed:
            evidence.append(f"the server shows none of {name}'s own roles or settings: "
                            f"{name} by host name only, not confirmed by the server")
    return p.model_copy(update={"name": name, "evidence": evidence,
                                "confirmed_by_server": confirmed})


def _is_private_or_loopback(h: str) -> bool:
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private
