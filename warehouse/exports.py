"""Writes of the incremental exports: where each export got to, per exporter, target and stream
(ops.export_cursors). A cursor moves only after the target accepted everything up to it."""

from __future__ import annotations

from collections.abc import Sequence

from warehouse.connection import Warehouse

SAVE_CURSOR = """
insert into ops.export_cursors (tenant_id, exporter, target_key, stream, position, exported, updated_at)
values (%s, %s, %s, %s, %s, %s, now())
on conflict (tenant_id, exporter, target_key, stream)
do update set position = excluded.position, exported = ops.export_cursors.exported + excluded.exported,
              updated_at = excluded.updated_at
"""


def save_export_cursors(wh: Warehouse, tenant_id: str, exporter: str, target_key: str,
                        positions: Sequence[tuple[str, str, int]]) -> None:
    """(stream, position, points exported) per stream, in one transaction."""
    with wh.connect() as conn, conn.transaction():
        for stream, position, exported in positions:
            conn.execute(SAVE_CURSOR, (tenant_id, exporter, target_key, stream, position, exported))
