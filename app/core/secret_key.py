"""The instance secret key: generated once, never a built-in default."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

KEY_FILE = "secret_key"


def load_or_create(instance_path: Path) -> str:
    """Read instance/secret_key, creating it first if missing.

    Several gunicorn workers may start at once: the key is written to a temporary file and
    hard-linked into place, which fails for every process but one, so all end up reading the
    same complete key.
    """
    path = instance_path / KEY_FILE
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=instance_path, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            os.chmod(tmp, 0o600)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    key = path.read_text().strip()
    if len(key) < 32:
        raise SystemExit(f"{path} holds a key shorter than 32 characters; refusing to start")
    return key
