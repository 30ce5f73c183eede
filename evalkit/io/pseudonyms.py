"""Keyed pseudonyms: respondent and household ids replaced by HMAC-SHA256 of a secret key.

The key comes from the user (``key=``, ``$EVALKIT_PSEUDONYM_KEY`` or a file named by
``$EVALKIT_PSEUDONYM_KEY_FILE`` outside the checkout); the same id gives the same pseudonym in every
wave, so the panel still links, and the pseudonyms cannot be reversed without the key.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import PersonalDataError
from .personal_numbers import cell_text

KEY_ENV = "EVALKIT_PSEUDONYM_KEY"
KEY_FILE_ENV = "EVALKIT_PSEUDONYM_KEY_FILE"
PSEUDONYM_LENGTH = 16
MIN_KEY_BYTES = 16
_DOMAIN = b"evalkit-pseudonym-v1\x00"


# --- pseudonyms ----------------------------------------------------------------------------------
def load_pseudonym_key(key: str | bytes | None = None) -> bytes:
    """The secret key for :func:`pseudonymise`: `key`, else ``$EVALKIT_PSEUDONYM_KEY``, else the
    file named by ``$EVALKIT_PSEUDONYM_KEY_FILE``.

    Raises
    ------
    PersonalDataError
        No key, a key shorter than 16 bytes, an unreadable key file, or a key file inside the
        evalkit checkout (where it could be committed or shipped with outputs).
    """
    origin = "key="
    if key is None:
        if os.environ.get(KEY_ENV):
            key, origin = os.environ[KEY_ENV], f"${KEY_ENV}"
        elif os.environ.get(KEY_FILE_ENV):
            path = Path(os.environ[KEY_FILE_ENV]).expanduser()
            origin = f"${KEY_FILE_ENV} ({path})"
            repo = Path(__file__).resolve().parents[2]
            try:
                resolved = path.resolve()
                key = path.read_bytes().strip()
            except OSError as exc:
                raise PersonalDataError(f"Cannot read the pseudonym key file named by {origin}: {exc.strerror}.") from None
            if resolved.is_relative_to(repo):
                raise PersonalDataError(
                    f"The pseudonym key file {path} is inside the evalkit checkout ({repo}), where it "
                    "could be committed or shipped with the outputs. Move it outside, e.g. to "
                    "~/.config/evalkit/pseudonym.key, and point $EVALKIT_PSEUDONYM_KEY_FILE at it.")
        else:
            raise PersonalDataError(
                "pseudonymise needs a secret key and none was given. Generate one once per project "
                "(python -c \"import secrets; print(secrets.token_hex(32))\"), keep it outside the "
                f"repository and the outputs, and supply it as ${KEY_ENV} or as a file named by "
                f"${KEY_FILE_ENV}. Use the same key for every wave so the panel links.")
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(raw) < MIN_KEY_BYTES:
        raise PersonalDataError(
            f"The pseudonym key from {origin} has {len(raw)} byte(s); use at least {MIN_KEY_BYTES} "
            "random bytes (e.g. secrets.token_hex(32)), or the ids can be recovered by trying keys.")
    return raw


def key_id(key: str | bytes | None = None) -> str:
    """A short public fingerprint of the key (8 hex), to check that two waves used the same key."""
    return hmac.new(load_pseudonym_key(key), b"evalkit-key-id", hashlib.sha256).hexdigest()[:8]


def pseudonym(value: str, key: bytes, length: int = PSEUDONYM_LENGTH) -> str:
    """HMAC-SHA256 of one id (as UTF-8 text) under `key`, as `length` lowercase hex characters."""
    return hmac.new(key, _DOMAIN + str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:length]


def pseudonymise(
    df: pd.DataFrame,
    columns: Sequence[str] = ("respondent_id", "household_id"),
    key: str | bytes | None = None,
    *,
    length: int = PSEUDONYM_LENGTH,
) -> pd.DataFrame:
    """Replace identifier columns by keyed pseudonyms, the same in every wave and file.

    Parameters
    ----------
    df
        A survey table.
    columns
        Identifier columns to replace. Each must be present.
    key
        The secret; ``None`` reads ``$EVALKIT_PSEUDONYM_KEY`` or the file named by
        ``$EVALKIT_PSEUDONYM_KEY_FILE`` (see :func:`load_pseudonym_key`). It is never stored in
        the result: ``attrs["pseudonymised"]`` records the columns, the method, the length and
        the key's fingerprint (:func:`key_id`) only.
    length
        Hex characters kept of the 64-character HMAC (8 to 64; default 16 = 64 bits).

    Returns
    -------
    DataFrame
        A copy with the id columns replaced (blank ids stay blank).

    Raises
    ------
    PersonalDataError
        No usable key, or two different ids that share a pseudonym (only possible with a very
        short `length`).

    Notes
    -----
    ``pseudonym = hex(HMAC-SHA256(key, "evalkit-pseudonym-v1\\0" + id))[:length]`` (RFC 2104).
    The same id gets the same pseudonym whatever the column, wave or file, so respondent panels
    and households link across waves as before; without the key the mapping cannot be rebuilt
    or reversed by trying candidate ids (as a plain hash could).
    """
    if not isinstance(length, (int, np.integer)) or not 8 <= int(length) <= 64:
        raise PersonalDataError(f"length={length!r}: use a whole number from 8 to 64 hex characters.")
    columns = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise PersonalDataError(f"pseudonymise: column(s) {missing} are not in the table; columns are "
                                f"{list(df.columns)[:15]}.", columns=missing)
    k = load_pseudonym_key(key)
    out = df.copy()
    for c in columns:
        text = out[c].map(lambda v: cell_text(v, detect=False))
        uniq = pd.unique(text.dropna().to_numpy(dtype=object))
        lut = {u: pseudonym(u, k, int(length)) for u in uniq}
        if len(set(lut.values())) < len(lut):
            raise PersonalDataError(
                f"pseudonymise: two different ids of column {c!r} share a {length}-character "
                "pseudonym; use a larger length.", columns=[c])
        out[c] = pd.array([lut.get(t) if t is not None else None for t in text], dtype="string")
    out.attrs = {**df.attrs, "pseudonymised": {"columns": columns, "method": "HMAC-SHA256",
                                              "length": int(length), "key_id": key_id(k)}}
    return out
