"""Staff can tell the outcomes apart by ear: each has its own beep count, pitch and length pattern."""
from itertools import combinations

from kiosk.feedback import PATTERNS

SAMPLING = ("accepted", "refused", "duplicate", "warning", "tube-closed", "tube-cancelled", "undone",
            "error")
CHECKING = ("check-valid", "check-expired", "check-no-result", "check-unavailable", "check-conflict",
            "check-see-staff", "refused", "signed-out", "signed-in")


def heard(kind):
    """What an ear tells apart: each beep's pitch and whether it is short or long."""
    return tuple((step.tone, step.seconds >= 0.25) for step in PATTERNS[kind] if step.tone)


def test_sampling_outcomes_each_sound_different():
    for a, b in combinations(SAMPLING, 2):
        assert heard(a) != heard(b), (a, b)


def test_check_outcomes_each_sound_different_and_never_like_an_accepted_sample():
    for a, b in combinations(CHECKING, 2):
        assert heard(a) != heard(b), (a, b)
    for kind in CHECKING[:6]:
        assert heard(kind) != heard("accepted")
