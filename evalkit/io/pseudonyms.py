"""Keyed pseudonyms: respondent and household ids replaced by HMAC-SHA256 of a secret key.

The key comes from the user (``key=``, ``$EVALKIT_PSEUDONYM_KEY`` or a file named by
``$EVALKIT_PSEUDONYM_KEY_FILE`` outside the checkout); the same id gives the same pseudonym in every
wave, so the panel still links, and the pseudonyms cannot be reversed without the key.
A key must carry at least 32 random bytes and pass a simple randomness screen
(:func:`check_key_strength`); none is ever generated on the user's behalf, and outputs record that
a key was used, never a fingerprint of it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import PersonalDataError
from .personal_numbers import cell_text

KEY_ENV = "EVALKIT_PSEUDONYM_KEY"
KEY_FILE_ENV = "EVALKIT_PSEUDONYM_KEY_FILE"
PSEUDONYM_LENGTH = 16
#: Random bytes a key must carry (256 bits): hex text of 64+ characters, base64 text of 44+, or raw bytes.
MIN_KEY_BYTES = 32
_DOMAIN = b"evalkit-pseudonym-v1\x00"
_HEX = re.compile(r"[0-9a-fA-F]+")
_B64 = re.compile(r"[A-Za-z0-9+/\-_]+={0,2}")
_HOW = ("Generate one once per project (python -c \"import secrets; print(secrets.token_hex(32))\"), "
        f"keep it outside the repository and the outputs, and supply it as ${KEY_ENV} or as a file named "
        f"by ${KEY_FILE_ENV}. Use the same key for every wave so the panel links.")


# --- keys ----------------------------------------------------------------------------------------
def _key_from_env() -> tuple[str | bytes, str]:
    """The key text or bytes from ``$EVALKIT_PSEUDONYM_KEY`` or the key file, and where it came from."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV], f"${KEY_ENV}"
    if not os.environ.get(KEY_FILE_ENV):
        raise PersonalDataError(f"pseudonymise needs a secret key and none was given. {_HOW}")
    path = Path(os.environ[KEY_FILE_ENV]).expanduser()
    origin = f"${KEY_FILE_ENV} ({path})"
    repo = Path(__file__).resolve().parents[2]
    try:
        resolved = path.resolve()
        data = path.read_bytes()
    except OSError as exc:
        raise PersonalDataError(f"Cannot read the pseudonym key file named by {origin}: {exc.strerror}.") from None
    if resolved.is_relative_to(repo):
        raise PersonalDataError(
            f"The pseudonym key file {path} is inside the evalkit checkout ({repo}), where it "
            "could be committed or shipped with the outputs. Move it outside, e.g. to "
            "~/.config/evalkit/pseudonym.key, and point $EVALKIT_PSEUDONYM_KEY_FILE at it.")
    try:
        return data.decode("ascii").strip(), origin     # a key written as hex or base64 text
    except UnicodeDecodeError:
        return data, origin                             # raw random bytes


def _key_bytes(key: str, origin: str) -> bytes:
    """The random bytes a text key encodes (hex, else base64), refusing other text."""
    if _HEX.fullmatch(key):
        if not (re.search(r"[0-9]", key) and re.search(r"[a-fA-F]", key)):
            raise PersonalDataError(
                f"The pseudonym key from {origin} is hex made only of digits or only of letters, which "
                f"random hex of {len(key)} characters practically never is (a date or a typed number?). {_HOW}")
        return bytes.fromhex(key if len(key) % 2 == 0 else key[:-1])
    if _B64.fullmatch(key) and len(key) % 4 != 1:
        if not (re.search(r"[a-z]", key) and re.search(r"[A-Z]", key)):
            raise PersonalDataError(
                f"The pseudonym key from {origin} reads as base64 without both lower- and upper-case "
                f"letters, which random base64 of {len(key)} characters practically never is (typed words?). {_HOW}")
        text = key.rstrip("=").replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4))
    raise PersonalDataError(
        f"The pseudonym key from {origin} is neither hex nor base64 text ({len(key)} characters): a "
        f"word, name or date is not a key, since ids can be recovered by trying such keys. {_HOW}")


def _expected_distinct(n: int) -> float:
    """Mean number of distinct values among `n` uniform random bytes: 256 (1 - (255/256)^n)."""
    return 256.0 * (1.0 - (255.0 / 256.0) ** n)


def check_key_strength(key: str | bytes, origin: str = "key=") -> None:
    """Refuse a pseudonym key that is short or visibly not random.

    Parameters
    ----------
    key
        Hex or base64 text, or raw bytes.
    origin
        Where the key came from, for the message.

    Raises
    ------
    PersonalDataError
        The key is not hex/base64 text or bytes; carries fewer than :data:`MIN_KEY_BYTES` bytes;
        or fails a randomness check (the message names the rule, never the key).

    Notes
    -----
    Text keys are decoded (hex first, else standard or URL-safe base64) to the bytes ``b`` they
    carry (n = len(b)); other text (words, names, dates such as ``dongying20172017``) is refused.
    The rule, each part of which n random bytes fail with probability below 1e-12:

    1. ``n >= 32``;
    2. hex text has both digits and letters, base64 text both lower- and upper-case letters;
    3. ``b`` has at least 60 % of the distinct byte values expected of n random bytes,
       ``E(n) = 256 (1 - (255/256)^n)`` (18 of 32: exact occupancy P(<= 17) = 1.2e-13), and so
       have the successive differences ``b[i+1] - b[i] mod 256`` (catches counting sequences);
    4. zlib (level 9) does not shrink ``b`` below n bytes (repeated blocks; random 32 bytes
       compress to 40, header included).

    This is a screen for keys a person typed or patterned, not a proof of randomness: a key
    must come from a generator (Python's ``secrets`` module, see the error message).
    """
    if isinstance(key, str):
        raw = _key_bytes(key.strip(), origin)
    elif isinstance(key, (bytes, bytearray, memoryview)):
        raw = bytes(key)
    else:
        raise PersonalDataError(f"The pseudonym key from {origin} is a {type(key).__name__}; give hex or "
                                f"base64 text or bytes. {_HOW}")
    n = len(raw)
    if n < MIN_KEY_BYTES:
        raise PersonalDataError(
            f"The pseudonym key from {origin} carries {n} byte(s); use at least {MIN_KEY_BYTES} random "
            f"bytes (64 hex characters), or the ids can be recovered by trying keys. {_HOW}")
    diffs = bytes((raw[i + 1] - raw[i]) % 256 for i in range(n - 1))
    for what, seq in (("byte values", raw), ("differences between successive bytes", diffs)):
        if len(set(seq)) < 0.6 * _expected_distinct(len(seq)):
            raise PersonalDataError(
                f"The pseudonym key from {origin} has too few distinct {what} ({len(set(seq))} of "
                f"{len(seq)}; random bytes give about {_expected_distinct(len(seq)):.0f}), so it is not "
                f"random. {_HOW}")
    if len(zlib.compress(raw, 9)) < n:
        raise PersonalDataError(
            f"The pseudonym key from {origin} compresses (it repeats a block), so it is not random. {_HOW}")


def load_pseudonym_key(key: str | bytes | None = None) -> bytes:
    """The secret key for :func:`pseudonymise`: `key`, else ``$EVALKIT_PSEUDONYM_KEY``, else the
    file named by ``$EVALKIT_PSEUDONYM_KEY_FILE``. Never generated: no key is an error.

    Returns
    -------
    bytes
        The HMAC key: a text key's UTF-8 text as given (so pseudonyms made before the strength
        check stay the same), raw bytes as they are.

    Raises
    ------
    PersonalDataError
        No key, an unreadable key file, a key file inside the evalkit checkout (where it could be
        committed or shipped with outputs), or a weak key (:func:`check_key_strength`).
    """
    origin = "key="
    if key is None:
        key, origin = _key_from_env()
    check_key_strength(key, origin)
    return key.strip().encode("utf-8") if isinstance(key, str) else bytes(key)


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
        the result, nor is anything derived from it alone: ``attrs["pseudonymised"]`` records the
        columns, the method and the length only (a key fingerprint would let anyone who sees the
        outputs test key guesses offline).
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
                                              "length": int(length)}}
    return out
