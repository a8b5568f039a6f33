"""`o2c contract check FOLDER`: what an export folder would load, before anything is loaded.

The folder is read, mapped and conformed exactly as `o2c ingest --source files` would, against an
in-memory database instead of the warehouse, so the figures are the ones a load would give:
rows per entity, which export column becomes which contract column, what would be quarantined
and why, and what the marts and pages can show with the entities present.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingestion import pipeline
from ingestion.contract import ENTITIES
from ingestion.mapping import Mapping, load_mapping


@dataclass
class EntityPreview:
    entity: str
    required: bool
    rows_in: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    files: int = 0
    mapped: dict[str, str] = field(default_factory=dict)  # contract column -> export header
    reasons: Counter[str] = field(default_factory=Counter)  # quarantine reason -> rows
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return self.rows_valid > 0

    @property
    def supports(self) -> str:
        """What the entity adds to the marts and pages (from the contract), with or without it."""
        adds = ENTITIES[self.entity].adds
        if self.present:
            return f"available: {adds}" if adds else "available"
        if self.required:
            return "MISSING: required; nothing can be built without it"
        return f"not available: your data has no {self.entity}" + (f" ({adds})" if adds else "")


@dataclass
class FolderPreview:
    folder: Path
    mapping_file: Path | None
    entities: list[EntityPreview]

    @property
    def ready(self) -> bool:
        """Every required entity has rows that would load."""
        return all(e.present for e in self.entities if e.required)


def check_folder(folder: Path) -> FolderPreview:
    """Read, map and conform the folder's files as a load would, without touching the warehouse.

    Raises pipeline.SourceUnavailable for a missing folder or an invalid mapping file."""
    scratch = Path(tempfile.mkdtemp(prefix="o2c-check-"))  # where a very large file would spill
    config = pipeline.IngestConfig(
        warehouse=scratch / "preview.duckdb",
        dlt_dir=scratch,
        erp_url=None,
        landing=scratch / "landing",
        contract_dir=folder,
    )
    try:
        mapping = load_mapping(pipeline.check_contract_dir(config)) or Mapping.empty()
    except ValueError as error:  # MappingError: one line naming the file and the key
        raise pipeline.SourceUnavailable(f"files: {error}") from error
    con = duckdb.connect(":memory:")
    try:
        batches, _ = pipeline.extract("files", config, con, "raw_files")
        ordered = [batches[name] for name in ENTITIES if name in batches]
        known = pipeline.KnownKeys(con)
        previews = []
        for batch in ordered:
            pipeline.conform_batch(batch, "files", con, "raw_files", known)
            result = batch.result
            preview = EntityPreview(
                batch.entity.name,
                batch.entity.required,
                rows_in=result.rows_in,
                rows_valid=result.rows_new + result.rows_updated + result.rows_unchanged,
                rows_quarantined=result.rows_quarantined,
                files=result.files_read,
                mapped={c: e for c, e in mapping.describe(batch.entity.name)["columns"].items()},
                warnings=list(result.warnings),
                errors=list(result.errors),
            )
            for frame in batch.quarantine:
                preview.reasons.update(frame["reason"].to_list())
            previews.append(preview)
        found = {p.entity for p in previews}
        previews += [EntityPreview(name, e.required) for name, e in ENTITIES.items() if name not in found]
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return FolderPreview(folder, mapping.path, previews)
