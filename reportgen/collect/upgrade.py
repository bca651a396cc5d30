"""Bundles of an older schema version brought to this one, by the readers that write what
the newer version holds. Version 1 held each static-scan migration's operations but not the
objects it creates and removes (the analyzer replayed them): the static replay writes them
now, from the operations the bundle holds, exactly as a new collection would. The bundle's
file, and its digest, are unchanged: only the in-memory copy is completed."""

from __future__ import annotations

from reportgen.bundle import EvidenceBundle
from reportgen.collect.django_effects import opaque_operations, with_replayed_effects


def upgrade(bundle: EvidenceBundle) -> EvidenceBundle:
    cb = bundle.codebase
    if bundle.schema_version >= 2 or cb is None:
        return bundle
    files = [m if m.creates is None or m.unverifiable else
             m.model_copy(update={"unverifiable": opaque_operations(m)})
             for m in cb.migrations]
    files, models = with_replayed_effects(files, cb.plan, keep_computed=True)
    return bundle.model_copy(update={"codebase": cb.model_copy(
        update={"migrations": files, "models": models})})
