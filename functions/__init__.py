"""Thin triggers: parse input, call one service, shape the response."""

from __future__ import annotations

import azure.functions as func


def blueprints() -> list[func.Blueprint]:
    """Every blueprint the app registers; imported lazily so a broken module names itself in the error."""
    from functions import (
        adjustments,
        api_docs,
        console,
        erp_transactions,
        health,
        inventory_config,
        journals,
        level_sync,
        onhand,
        partition_work,
        reconcile,
        snapshot_trigger,
    )
    from functions.storage_guard import guard_http_functions

    found = [
        health.bp,
        console.bp,
        adjustments.bp,
        onhand.bp,
        inventory_config.bp,
        erp_transactions.bp,
        partition_work.bp,
        journals.bp,
        reconcile.bp,
        snapshot_trigger.bp,
        api_docs.bp,
        level_sync.bp,
    ]
    guard_http_functions(found)
    return found
