"""Credentials at rest: Fernet encryption under REVLINE_SECRET_KEY (or a generated key file)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet


def load_or_create_key(configured: str | None, path: str) -> str:
    """The configured key, else the one in `path`, else a new one written there (mode 600)."""
    if configured:
        return configured
    file = Path(path)
    if file.exists():
        return file.read_text().strip()
    key = Fernet.generate_key().decode()
    file.write_text(key + "\n")
    os.chmod(file, 0o600)
    return key


def existing_key(configured: str | None, path: str) -> str | None:
    """The configured key, else the one a demo run left in `path`, else None."""
    if configured:
        return configured
    file = Path(path)
    return file.read_text().strip() if file.exists() else None


def encrypt(key: str, plaintext: str) -> str:
    return Fernet(key.encode()).encrypt(plaintext.encode()).decode()


def decrypt(key: str, token: str) -> str:
    return Fernet(key.encode()).decrypt(token.encode()).decode()
