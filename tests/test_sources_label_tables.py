"""Label tables: every real layout is recognised from its header and read value by value."""

import pytest

from msa_bench.sources.common import SourceFileError
from msa_bench.sources.label_tables import read_label_table, table_format


def _write(path, text):
    path.write_text(text)
    return path


def test_mmsa_fet_label_csv(tmp_path):
    path = _write(
        tmp_path / "label.csv",
        "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"
        "03bSnISJMiM,1,A lot of sad parts,-1.8,-2.0,-1.0,,Negative,valid\n",
    )
    assert table_format(path) == "mmsa"
    (segment,) = read_label_table(path)
    assert (segment.id, segment.text, segment.sentiment, segment.split) == ("03bSnISJMiM_1", "A lot of sad parts", -1.8, "validation")
    assert segment.source_labels == {"label": -1.8, "label_T": -2.0, "label_A": -1.0, "label_V": None, "annotation": "Negative"}


def test_mosi_id_text_label_mode_table(tmp_path):
    path = _write(tmp_path / "label.csv", "id,text,label,mode\n_dI--eQ6qVU_12,it was ok,0.4,dev\n")
    assert table_format(path) == "mosi_table"
    (segment,) = read_label_table(path)
    assert (segment.video_id, segment.clip_id, segment.sentiment, segment.split) == ("_dI--eQ6qVU", "12", 0.4, "validation")


def test_opinion_level_sentiment_without_header(tmp_path):
    path = _write(tmp_path / "OpinionLevelSentiment.csv", "27.87,32.92,_dI--eQ6qVU,1,2.4\n45.5,47.7,_dI--eQ6qVU,2,-3\n")
    assert table_format(path) == "opinion"
    segments = read_label_table(path)
    assert [(s.id, s.start, s.end, s.sentiment, s.split) for s in segments] == [
        ("_dI--eQ6qVU_1", 27.87, 32.92, 2.4, None),
        ("_dI--eQ6qVU_2", 45.5, 47.7, -3.0, None),
    ]


def test_mosei_table_with_link_column_and_numeric_video_id(tmp_path):
    path = _write(
        tmp_path / "labels.csv",
        "id,link,segment_id,start,end,sentiment,happy,sad,anger,surprise,disgust,fear\n"
        "81406,https://youtube.com/watch?v=81406,2,4.84,14.05,-0.5,0.0,0.6666667,1.0,0.0,0.3333,0.0\n",
    )
    assert table_format(path) == "mosei"
    (segment,) = read_label_table(path)
    assert segment.id == "81406_2" and segment.sentiment == -0.5
    assert segment.emotions == {"happy": 0.0, "sad": 0.6666667, "anger": 1.0, "surprise": 0.0, "disgust": 0.3333, "fear": 0.0}


def test_unknown_table_and_bad_number_are_clear_errors(tmp_path):
    unknown = _write(tmp_path / "CMU_MOSEI_Labels.csv", ",file,index,start,end,label2a\n0,a,0,1,2,1\n")
    with pytest.raises(SourceFileError, match="CMU_MOSEI_Labels.csv: not a known label table"):
        read_label_table(unknown)
    bad = _write(tmp_path / "label.csv", "id,text,label,mode\nabc_1,hi,positive,train\n")
    with pytest.raises(SourceFileError, match=r"label.csv: column 'label' row 1: 'positive' is not a number"):
        read_label_table(bad)
    bad_split = _write(tmp_path / "label2.csv", "id,text,label,mode\nabc_1,hi,1.0,holdout\n")
    with pytest.raises(SourceFileError, match="unknown split name 'holdout'"):
        read_label_table(bad_split)
