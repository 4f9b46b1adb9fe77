"""Reconciliation rules (pure): config, column mapping, classification, materiality,
history streaks, proposed journals and report rendering. No I/O here."""

from .columns import MappingError, ResolvedColumns, choose_level, resolve_columns
from .config import (
    AuditBasis,
    JournalMode,
    KeyField,
    Materiality,
    ReconcileConfig,
    Side,
    SourceMapping,
    Thresholds,
    parse_config,
)
from .journal import ProposedLine, journal_document, line_id, propose
from .model import Discrepancy
from .rules import Assessment, Category, assess, classify

__all__ = [
    "Assessment",
    "AuditBasis",
    "Category",
    "Discrepancy",
    "JournalMode",
    "KeyField",
    "MappingError",
    "Materiality",
    "ProposedLine",
    "ReconcileConfig",
    "ResolvedColumns",
    "Side",
    "SourceMapping",
    "Thresholds",
    "assess",
    "choose_level",
    "classify",
    "journal_document",
    "line_id",
    "parse_config",
    "propose",
    "resolve_columns",
]
