"""What a stolen PIN entry costs to break: one guess (argon2id as samplepoint/pins.py sets it) timed
on one core, times every PIN of the shortest length; and the old PBKDF2 entries for comparison.

`python -m benchmarks.bench_pin_guess` prints the table alone (docs/staff-credentials.md quotes it).
"""
from __future__ import annotations

import hashlib
import os
import statistics
import time

TITLE = "PIN entries: time per guess and to try every PIN"
ROUNDS = 15


def _one_core() -> str:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return "pinned to one core"
    except (AttributeError, OSError):
        return "not pinned"


def _median(fn) -> float:
    """Median CPU time of one call: what a guess costs a core, whoever else shares the machine."""
    fn()                                   # warm: the first call allocates
    times = []
    for _ in range(ROUNDS):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def measure() -> dict[str, float]:
    from samplepoint import pins
    table = pins.parse_pin_entries([pins.pin_entry("NV01", "482913")])
    return {"argon2id": _median(lambda: pins.check_pin(table, "NV01", "000001")),
            "pbkdf2": _median(lambda: hashlib.pbkdf2_hmac("sha256", b"0001", b"s" * 16, 100_000))}


def run() -> str:
    from samplepoint import pins
    pinned = _one_core()
    seconds = measure()
    space = 10 ** pins.MIN_DIGITS
    days = seconds["argon2id"] * space / 86400
    old_min = seconds["pbkdf2"] * 10 ** 4 / 60
    return "\n".join([
        f"One guess = one `check_pin`, its CPU time ({pinned}; median of {ROUNDS}): argon2id t={pins.TIME_COST}, "
        f"m={pins.MEMORY_KIB // 1024} MiB, p={pins.PARALLELISM}.", "",
        "| entry | one guess | every PIN of the shortest length |", "|---|---|---|",
        f"| argon2id, {pins.MIN_DIGITS}-{pins.MAX_DIGITS} digits (now) | "
        f"{seconds['argon2id'] * 1000:.0f} ms | 10^{pins.MIN_DIGITS} guesses: {days:.1f} days "
        f"of one core |",
        f"| PBKDF2-SHA256 100,000, 4-12 digits (before) | {seconds['pbkdf2'] * 1000:.0f} ms | "
        f"10^4 guesses: {old_min:.0f} minutes of one core |", "",
        "A Raspberry Pi 4 is roughly 3-4 times slower per core: a kiosk sign-in then takes about "
        f"{seconds['argon2id'] * 3:.1f}-{seconds['argon2id'] * 4:.1f} s."])


if __name__ == "__main__":
    print(run())
