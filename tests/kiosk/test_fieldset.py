"""The field-like set: deterministic, every category generated, hard categories as specified."""
import random

import numpy as np
import segno

from kiosk.fieldset import CATEGORIES, HARD, NEGATIVES, field_set, legacy_declaration


def test_same_seed_same_frames_and_every_category_present():
    first, second = field_set(1, seed=5), field_set(1, seed=5)
    assert [s.category for s in first] == list(CATEGORIES)
    assert all(np.array_equal(a.grey, b.grey) and a.expected == b.expected for a, b in zip(first, second))
    for sample in first:
        assert sample.grey.shape == (480, 640) and sample.grey.dtype == np.uint8
        assert (sample.expected is None) == (sample.category in NEGATIVES)


def test_hard_categories_and_dense_codes_of_version_10_to_15():
    assert {"clutter", "defocus", "motion", "specular", "tiny", "jpeg", "dense", "tube-turned",
            "dark-low"} == set(HARD)
    rng = random.Random(1)
    versions = {segno.make(legacy_declaration(rng, people), error="m", micro=False,
                           boost_error=False).version for people in (1, 2, 3, 4)}
    assert min(versions) >= 10 and max(versions) <= 15
