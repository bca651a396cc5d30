"""Hosting provider from the host name (and the version string), with the evidence named."""

from __future__ import annotations

import ipaddress
import re

from reportgen.bundle import Provider

_NEON = re.compile(
    r"^(?P<ep>ep-[a-z0-9-]+?)(?P<pooler>-pooler)?\.(?P<region>[a-z0-9-]+)\."
    r"(?:(?P<cloud>aws|azure|gcp)\.)?neon\.tech$")
_RDS = re.compile(r"^(?P<id>[a-z0-9-]+)\.(?P<hash>[a-z0-9]+)\.(?P<region>[a-z0-9-]+)"
                  r"\.rds\.amazonaws\.com(?:\.cn)?$")
_AZURE = re.compile(r"^(?P<id>[a-z0-9-]+)\.postgres\.database\.azure\.com$")
_SUPABASE = re.compile(r"^(?:db\.(?P<ref>[a-z0-9]+)\.supabase\.co|"
                       r"aws-\d+-(?P<region>[a-z0-9-]+)\.pooler\.supabase\.com)$")
_HEROKU = re.compile(r"^ec2-[0-9-]+\.(?P<region>[a-z0-9-]+)\.compute(?:-1)?\.amazonaws\.com$")
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
        aurora = m.group("id").startswith("cluster-") or ".cluster-" in h
        return Provider(name="aurora" if aurora else "rds", endpoint=m.group("id"),
                        region=m.group("region"),
                        evidence=[f"host {host} is an *.rds.amazonaws.com endpoint"])
    if m := _AZURE.match(h):
        return Provider(name="azure", endpoint=m.group("id"),
                        evidence=[f"host {host} is *.postgres.database.azure.com"])
    if m := _SUPABASE.match(h):
        return Provider(name="supabase", endpoint=m.group("ref"), region=m.group("region"),
                        pooler="pooler" in h,
                        evidence=[f"host {host} is a Supabase host"])
    if m := _HEROKU.match(h):
        return Provider(name="heroku", region=m.group("region"),
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


def _is_private_or_loopback(h: str) -> bool:
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private
