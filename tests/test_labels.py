"""Every label-mapping rule, value by value, including null handling."""

from __future__ import annotations

import math

import pytest

from msa_bench.data import labels
from msa_bench.data.schema import EKMAN_EMOTIONS, EMOTION_CLASSES, POLARITY_CLASSES

NEG, NEU, POS = (POLARITY_CLASSES.index(p) for p in ("negative", "neutral", "positive"))


def emotion(name: str) -> int:
    return EMOTION_CLASSES.index(name)


@pytest.mark.parametrize(
    ("sentiment", "polarity", "intensity"),
    [(-3.0, NEG, 3.0), (-0.2, NEG, 0.2), (0.0, NEU, 0.0), (-0.0, NEU, 0.0), (0.4, POS, 0.4), (3.0, POS, 3.0), (None, None, None), (math.nan, None, None)],
)
def test_polarity_and_intensity_from_sentiment(sentiment, polarity, intensity):
    assert labels.polarity_from_sentiment(sentiment) == polarity
    result = labels.intensity_from_sentiment(sentiment)
    assert result == (None if intensity is None else pytest.approx(intensity))


@pytest.mark.parametrize(
    ("emotions", "expected"),
    [
        ([0, 0, 0, 0, 0, 0], emotion("neutral")),
        ([0, 0, 0, 2.0, 0.3, 0], emotion("happiness")),
        ([1.0, 0, 0, 0, 0, 0], emotion("anger")),
        ([0, 0, 0, 0, 0, 0.6], emotion("surprise")),
        ([0, 1.0, 1.0, 0, 0, 0], None),  # a tie for the strongest is not guessed
        (None, None),
    ],
)
def test_dominant_emotion(emotions, expected):
    assert labels.dominant_emotion(emotions) == expected


def test_dominant_emotion_rejects_wrong_length():
    with pytest.raises(ValueError, match="6 emotion intensities"):
        labels.dominant_emotion([1.0, 2.0])


def test_mosei_emotions_are_reordered_to_ekman_order():
    raw = {"happy": 1.0, "sad": 2.0, "anger": 3.0, "surprise": 0.5, "disgust": 1.5, "fear": 0.25}
    assert labels.mosei_emotions(raw) == [3.0, 1.5, 0.25, 1.0, 2.0, 0.5]
    assert EKMAN_EMOTIONS == ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
    with pytest.raises(ValueError, match="missing"):
        labels.mosei_emotions({"happy": 1.0})


def test_labels_from_sentiment_mosi_has_no_emotions():
    assert labels.labels_from_sentiment(-1.4) == {
        "sentiment": -1.4,
        "polarity": NEG,
        "intensity": pytest.approx(1.4),
        "emotions": None,
        "emotion": None,
    }


def test_labels_from_sentiment_mosei_with_emotions():
    result = labels.labels_from_sentiment(0.0, [0, 0, 0, 0.33, 0, 0])
    assert result["polarity"] == NEU and result["intensity"] == 0.0
    assert result["emotion"] == emotion("happiness")


def test_unannotated_sentiment_stays_null_never_zero():
    result = labels.labels_from_sentiment(None)
    assert result == {"sentiment": None, "polarity": None, "intensity": None, "emotions": None, "emotion": None}


# RAVDESS: emotion code -> (emotion class, polarity); intensity code 1 normal / 2 strong.
RAVDESS_CASES = [
    (1, 1, "neutral", NEU, 0.0),
    (2, 1, "calm", NEU, 0.0),
    (2, 2, "calm", NEU, 0.0),
    (3, 1, "happiness", POS, 1.5),
    (3, 2, "happiness", POS, 3.0),
    (4, 1, "sadness", NEG, 1.5),
    (5, 2, "anger", NEG, 3.0),
    (6, 1, "fear", NEG, 1.5),
    (7, 2, "disgust", NEG, 3.0),
    (8, 1, "surprise", POS, 1.5),
]


@pytest.mark.parametrize(("code", "intensity_code", "name", "polarity", "intensity"), RAVDESS_CASES)
def test_ravdess_mapping(code, intensity_code, name, polarity, intensity):
    result = labels.labels_from_ravdess(code, intensity_code)
    assert result["sentiment"] is None
    assert result["emotion"] == emotion(name)
    assert result["polarity"] == polarity
    assert result["intensity"] == intensity
    expected = [intensity if e == name else 0.0 for e in EKMAN_EMOTIONS]
    assert result["emotions"] == expected


@pytest.mark.parametrize(("code", "intensity_code"), [(0, 1), (9, 1), (3, 3)])
def test_ravdess_rejects_unknown_codes(code, intensity_code):
    with pytest.raises(ValueError, match="RAVDESS"):
        labels.labels_from_ravdess(code, intensity_code)


def test_out_of_range_flags_but_keeps_values():
    flagged = labels.labels_from_sentiment(3.2, [0, 0, 0, 3.5, 0, 0])
    assert flagged["sentiment"] == pytest.approx(3.2)
    assert labels.out_of_range(flagged) == ["sentiment", "intensity", "emotions"]
    assert labels.out_of_range(labels.labels_from_sentiment(-3.0)) == []
    assert labels.out_of_range(labels.labels_from_sentiment(None)) == []
