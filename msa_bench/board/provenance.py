"""The provenance section: where each entry comes from (seeds, schedule, commits, machine)."""

from __future__ import annotations

from msa_bench.board.entries import Entry


def provenance_rows(members: list[Entry]) -> list[list[str]]:
    """Per entry: seeds, schedule, epochs trained per seed, commit(s), environment; plain text
    (the pages escape it)."""
    rows = []
    for entry in sorted(members, key=lambda e: e.model):
        records = entry.records
        commits = sorted({str(r.git_commit or "unknown")[:10] for r in records})
        environment = records[0].environment
        dirty = any(r.environment.get("dirty_tree") for r in records)
        where = ", ".join(
            str(v) for v in (environment.get("gpu") or environment.get("cpu"), f"{environment.get('threads')} threads" if environment.get("threads") else None,
                             f"torch {environment.get('torch')}" if environment.get("torch") else None) if v
        )
        rows.append([
            entry.model,
            ", ".join(str(r.seed) for r in records),
            ", ".join(sorted({str(r.training.get("schedule", "—")) for r in records})),
            ", ".join(str(r.training.get("epochs", "—")) for r in records),
            ", ".join(commits) + (" (dirty tree)" if dirty else ""),
            where or "—",
            ", ".join(sorted({str(r.isolation) for r in records})),
            "✓" if entry.verified else "—",
        ])
    return rows


PROVENANCE_HEADER = ["model", "seeds", "schedule", "epochs trained (per seed)", "commit", "where", "isolation", "re-run"]
