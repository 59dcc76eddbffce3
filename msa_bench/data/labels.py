"""Mapping from each dataset's original labels to the unified label schema.

``None`` always means "not annotated"; it is never replaced by 0.

=============  =======================  =============================  ===========================
column         CMU-MOSI                 CMU-MOSEI                      RAVDESS
=============  =======================  =============================  ===========================
sentiment      score in [-3, 3]         score in [-3, 3]               None (not annotated)
polarity       sign of sentiment:       sign of sentiment              neutral, calm -> neutral;
               <0 negative, 0 neutral,                                 happy, surprised -> positive;
               >0 positive                                             sad, angry, fearful,
                                                                       disgust -> negative
intensity      abs(sentiment)           abs(sentiment)                 neutral, calm -> 0.0;
                                                                       normal -> 1.5; strong -> 3.0
emotions       None (not annotated)     as annotated, reordered to     the expressed emotion at the
                                        (anger, disgust, fear,         intensity above, the other
                                        happiness, sadness, surprise)  five 0.0; neutral, calm: all 0
emotion        None (not annotated)     the single strongest emotion;  the expressed emotion; calm
                                        neutral when all are 0; None   stays ``calm`` (a RAVDESS-only
                                        on a tie for the strongest     class, not folded into neutral)
=============  =======================  =============================  ===========================

MOSEI's raw label order is (sentiment, happy, sad, anger, surprise, disgust, fear).
Scores outside their range are kept as they are and flagged by :func:`out_of_range`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from msa_bench.data.schema import (
    EKMAN_EMOTIONS,
    EMOTION_CLASSES,
    INTENSITY_RANGE,
    POLARITY_CLASSES,
    SENTIMENT_RANGE,
)

NEGATIVE, NEUTRAL, POSITIVE = (POLARITY_CLASSES.index(n) for n in ("negative", "neutral", "positive"))

#: MOSEI's six emotion columns in their raw order, with their Ekman names.
MOSEI_EMOTION_COLUMNS: dict[str, str] = {
    "happy": "happiness",
    "sad": "sadness",
    "anger": "anger",
    "surprise": "surprise",
    "disgust": "disgust",
    "fear": "fear",
}

#: RAVDESS emotion code -> (emotion class, polarity class).
RAVDESS_EMOTIONS: dict[int, tuple[str, str]] = {
    1: ("neutral", "neutral"),
    2: ("calm", "neutral"),
    3: ("happiness", "positive"),
    4: ("sadness", "negative"),
    5: ("anger", "negative"),
    6: ("fear", "negative"),
    7: ("disgust", "negative"),
    8: ("surprise", "positive"),
}

#: RAVDESS intensity code -> unified intensity on the 0-3 scale (for emotions other than
#: neutral and calm, which have intensity 0.0).
RAVDESS_INTENSITIES: dict[int, float] = {1: 1.5, 2: 3.0}


def _is_missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def polarity_from_sentiment(sentiment: float | None) -> int | None:
    """Polarity class index from the sign of a sentiment score.

    >>> polarity_from_sentiment(-0.4), polarity_from_sentiment(0.0), polarity_from_sentiment(None)
    (0, 1, None)
    """
    if _is_missing(sentiment):
        return None
    if sentiment < 0:
        return NEGATIVE
    return NEUTRAL if sentiment == 0 else POSITIVE


def intensity_from_sentiment(sentiment: float | None) -> float | None:
    """Sentiment intensity on the 0-3 scale: the absolute sentiment score."""
    return None if _is_missing(sentiment) else abs(float(sentiment))


def dominant_emotion(emotions: Sequence[float] | None) -> int | None:
    """Emotion class index of the single strongest Ekman emotion.

    ``neutral`` when every intensity is 0, ``None`` when two or more tie for the strongest
    (the label would be a guess) or when emotions are not annotated.
    """
    if emotions is None:
        return None
    if len(emotions) != len(EKMAN_EMOTIONS):
        raise ValueError(f"expected {len(EKMAN_EMOTIONS)} emotion intensities, got {len(emotions)}")
    strongest = max(emotions)
    if strongest <= 0:
        return EMOTION_CLASSES.index("neutral")
    winners = [name for name, value in zip(EKMAN_EMOTIONS, emotions) if value == strongest]
    return EMOTION_CLASSES.index(winners[0]) if len(winners) == 1 else None


def mosei_emotions(raw: dict[str, float]) -> list[float]:
    """MOSEI's raw emotion columns (happy, sad, ...) as intensities in Ekman order."""
    by_ekman = {MOSEI_EMOTION_COLUMNS[column]: float(value) for column, value in raw.items()}
    missing = set(EKMAN_EMOTIONS) - set(by_ekman)
    if missing:
        raise ValueError(f"MOSEI emotion columns missing: {sorted(missing)}")
    return [by_ekman[name] for name in EKMAN_EMOTIONS]


def labels_from_sentiment(
    sentiment: float | None, emotions: Sequence[float] | None = None
) -> dict[str, object]:
    """Unified labels for a sentiment-annotated clip (MOSI, MOSEI, synthetic)."""
    sentiment = None if _is_missing(sentiment) else float(sentiment)
    emotions = None if emotions is None else [float(e) for e in emotions]
    return {
        "sentiment": sentiment,
        "polarity": polarity_from_sentiment(sentiment),
        "intensity": intensity_from_sentiment(sentiment),
        "emotions": emotions,
        "emotion": dominant_emotion(emotions),
    }


def labels_from_ravdess(emotion_code: int, intensity_code: int) -> dict[str, object]:
    """Unified labels for a RAVDESS recording from its emotion and intensity codes."""
    if emotion_code not in RAVDESS_EMOTIONS:
        raise ValueError(f"RAVDESS emotion code must be 1-8, got {emotion_code}")
    if intensity_code not in RAVDESS_INTENSITIES:
        raise ValueError(f"RAVDESS intensity code must be 1 or 2, got {intensity_code}")
    emotion, polarity = RAVDESS_EMOTIONS[emotion_code]
    expressive = emotion in EKMAN_EMOTIONS
    intensity = RAVDESS_INTENSITIES[intensity_code] if expressive else 0.0
    emotions = [intensity if name == emotion else 0.0 for name in EKMAN_EMOTIONS]
    return {
        "sentiment": None,
        "polarity": POLARITY_CLASSES.index(polarity),
        "intensity": intensity,
        "emotions": emotions,
        "emotion": EMOTION_CLASSES.index(emotion),
    }


def out_of_range(labels: dict[str, object]) -> list[str]:
    """Names of the labels outside their documented range (kept, but to be reported)."""
    bad = []
    sentiment = labels.get("sentiment")
    if sentiment is not None and not SENTIMENT_RANGE[0] <= sentiment <= SENTIMENT_RANGE[1]:
        bad.append("sentiment")
    low, high = INTENSITY_RANGE
    intensity = labels.get("intensity")
    if intensity is not None and not low <= intensity <= high:
        bad.append("intensity")
    emotions = labels.get("emotions")
    if emotions is not None and any(not low <= e <= high for e in emotions):
        bad.append("emotions")
    return bad
