"""Storage for a benchmark run: its own Azurite on free ports (or OMNISYNC_TEST_STORAGE), own table prefix."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.azurite import Azurite


@contextmanager
def bench_storage() -> Iterator[str]:
    azurite = None
    connection = os.environ.get("OMNISYNC_TEST_STORAGE")
    if not connection:
        azurite = Azurite(Path(tempfile.mkdtemp(prefix="bench-azurite-"))).start()
        connection = azurite.connection_string
    os.environ["OMNISYNC_STORAGE"] = connection
    os.environ["OMNISYNC_STORAGE_NAME_PREFIX"] = "b" + uuid.uuid4().hex[:8]
    try:
        yield connection
    finally:
        if azurite:
            azurite.stop()
