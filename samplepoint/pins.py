"""PIN entries (staff at the kiosk, volunteers on the portal): `ID:$argon2id$…`, never the PIN.

A PIN is 6 to 12 ASCII digits (what a keypad types). Its entry is an argon2id hash, memory-hard and
slow enough that one guess costs about 0.2 s and 64 MiB on one core: a stolen 6-digit entry takes
days of one core to break (docs/staff-credentials.md has the measurement and how to repeat it).
Entries of the old PBKDF2 form `ID:SALT:HASH`, and argon2id entries weaker than ours, are read
only to say that the PIN must be issued again: they never sign anyone in.
"""
from __future__ import annotations

import re
import secrets
from functools import lru_cache

MIN_DIGITS, MAX_DIGITS = 6, 12
TIME_COST, MEMORY_KIB, PARALLELISM, HASH_LEN = 2, 65536, 1, 32
MAX_MEMORY_KIB, MAX_TIME_COST = 262144, 8        # a hostile entry cannot make a device thrash
PIN_RULE = f"a PIN is {MIN_DIGITS} to {MAX_DIGITS} digits 0-9"
REISSUE = "reissue"                  # the table's value for an entry that must be issued again
_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_ARGON = re.compile(rf"({_ID}):(\$argon2id\$v=19\$m=([0-9]{{1,7}}),t=([0-9]{{1,2}}),p=([0-9])"
                    rf"\$[A-Za-z0-9+/]{{16,64}}\$[A-Za-z0-9+/]{{22,88}})")
_LEGACY = re.compile(rf"({_ID}):[0-9a-f]{{32}}:[0-9a-f]{{64}}")
_PIN = re.compile(rf"[0-9]{{{MIN_DIGITS},{MAX_DIGITS}}}")


def pin_problem(pin) -> str | None:
    """Why `pin` cannot be a PIN (not ASCII digits, too short or long), or None."""
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        return PIN_RULE
    return None


def _hash(pin: str, salt: bytes, time_cost=TIME_COST, memory_kib=MEMORY_KIB) -> str:
    from argon2.low_level import Type, hash_secret
    return hash_secret(pin.encode("ascii"), salt, time_cost, memory_kib, PARALLELISM, HASH_LEN,
                       Type.ID).decode("ascii")


def pin_entry(person_id: str, pin: str, salt: bytes | None = None) -> str:
    """The entry for person_id's PIN; raises ValueError for a PIN that breaks PIN_RULE."""
    problem = pin_problem(pin)
    if problem:
        raise ValueError(problem)
    return f"{person_id}:{_hash(pin, salt or secrets.token_bytes(16))}"


def entry_kind(entry) -> str | None:
    """"argon2id" for an entry that can sign in, REISSUE for an old or weak one, None for text
    that is no entry at all."""
    if not isinstance(entry, str):
        return None
    match = _ARGON.fullmatch(entry)
    if match:
        memory, time_cost, lanes = int(match[3]), int(match[4]), int(match[5])
        if memory > MAX_MEMORY_KIB or time_cost > MAX_TIME_COST or lanes != PARALLELISM:
            return None
        strong = memory >= MEMORY_KIB and time_cost * memory >= TIME_COST * MEMORY_KIB
        return "argon2id" if strong else REISSUE
    return REISSUE if _LEGACY.fullmatch(entry) else None


def entries_problem(entries) -> str | None:
    """The config schema's check of a list of entries."""
    if all(entry_kind(e) for e in entries):
        return None
    return ("entries must look like ID:$argon2id$… as printed by `samplepoint staff pin ID` "
            "(older ID:SALT:HASH entries are read only to ask for a new PIN)")


def parse_pin_entries(entries: list[str]) -> dict[str, str]:
    """id → the argon2id hash, or REISSUE for an old or weak entry; text that is no entry is skipped."""
    table = {}
    for entry in entries:
        kind = entry_kind(entry)
        if kind:
            person_id, _, encoded = entry.partition(":")
            table[person_id] = encoded if kind == "argon2id" else REISSUE
    return table


def needs_reissue(table: dict[str, str], person_id: str) -> bool:
    return table.get(person_id) == REISSUE


def reissue_ids(table: dict[str, str]) -> list[str]:
    return sorted(i for i, v in table.items() if v == REISSUE)


@lru_cache(maxsize=1)
def _decoy() -> str:
    return _hash("000000", b"\0" * 16)


def check_pin(table: dict[str, str], person_id: str, pin: str) -> bool:
    """True when pin is person_id's PIN. Hashes even for an unknown id or an entry to re-issue, so
    the time taken tells nothing; a PIN that is not 6-12 ASCII digits is refused unhashed."""
    from argon2.exceptions import InvalidHashError, VerificationError
    from argon2.low_level import Type, verify_secret
    if pin_problem(pin):
        return False
    encoded = table.get(person_id, REISSUE)
    usable = encoded != REISSUE
    try:
        verify_secret((encoded if usable else _decoy()).encode("ascii"), pin.encode("ascii"), Type.ID)
    except (VerificationError, InvalidHashError):
        return False
    return usable
