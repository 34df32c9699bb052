"""Writing files so that no reader ever sees half of one: a temp file beside it, then a rename."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path in `path`'s folder (same suffix, so writers that go by the extension work);
    once the block succeeds it replaces `path`, with the usual umask permissions rather than
    mkstemp's 0600; if the block fails it is removed and `path` is untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | Path, doc: object, **dump_options: object) -> None:
    """JSON (indent 1 unless told otherwise), written atomically."""
    dump_options.setdefault("indent", 1)
    write_bytes_atomic(path, (json.dumps(doc, **dump_options) + "\n").encode())
