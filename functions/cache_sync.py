"""Timer `sync_to_cache`: moves new adjustment lines into the on-hand cache and finishes open offsets."""

from __future__ import annotations

import azure.functions as func

from functions.environment_config import config_of
from shared.adapters.ledger_tables import LedgerStore
from shared.services.offsets import offset_pending
from shared.services.sync import sync_pending

bp = func.Blueprint()


@bp.timer_trigger(schedule="%SYNC_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def sync_to_cache(timer: func.TimerRequest) -> None:
    store = LedgerStore()
    sync_pending(store)
    offset_pending(store, config_of)
