"""Our IWSLT14 De-En pipeline against fairseq's standard files, on the real data
in ../shared/data/iwslt14/ (the original XML, fairseq's prepare-iwslt14.sh output
for test, its 10k BPE code, and the IWSLT 2017 test archives).

prepare-iwslt14.sh runs end to end, offline, on an archive built here from the
real XML files plus a small synthetic train.tags (the real training set cannot
be had here), with the standard BPE code; its test set must come out identical
to the standard, tokenized and BPE'd, on every line of both sides."""

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from cli import BIN, REPO, run

IWSLT = Path(os.environ.get("IWSLT14_DIR", REPO.parent / "shared" / "data" / "iwslt14"))
STD = IWSLT / "iwslt14.tokenized.de-en"
TEST_SETS = ["IWSLT14.TED.dev2010", "IWSLT14.TEDX.dev2012", "IWSLT14.TED.tst2010",
             "IWSLT14.TED.tst2011", "IWSLT14.TED.tst2012"]

# Synthetic talk text in the train.tags layout: markup lines, and sentences whose
# last word ends in a period that sacremoses alone would leave glued on (an
# abbreviation, a German ordinal-like number, a URL).
TRAIN_DE = ["<url>http://www.ted.com/talks/x.html</url>", "<keywords>talks, science</keywords>",
            "<talkid>1</talkid>", "<title>Eine Geschichte</title>",
            "Ich wohne in den U.S.A.", "Das war im Jahr 75.", "Mehr unter marshmallowchallenge.com.",
            "Er kam am 3. Mai nach Hause."]
TRAIN_EN = ["<url>http://www.ted.com/talks/x.html</url>", "<keywords>talks, science</keywords>",
            "<talkid>1</talkid>", "<title>A story</title>",
            "I live in the U.S.A.", "That was in the year 75.", "More at marshmallowchallenge.com.",
            "He came home on May 3."]


def mismatches(ours: Path, standard: Path, show=3):
    a = ours.read_text(encoding="utf-8").splitlines()
    b = standard.read_text(encoding="utf-8").splitlines()
    bad = [(i + 1, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return len(a), len(b), len(bad), bad[:show]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    if not (STD / "code").is_file():
        raise AssertionError(f"IWSLT14 data not found at {IWSLT} (set IWSLT14_DIR)")
    tmp = tmp_path_factory.mktemp("iwslt14")
    src = tmp / "de-en"
    src.mkdir()
    for xml in (IWSLT / "orig/de-en").glob("*.xml"):
        (src / xml.name).write_bytes(xml.read_bytes())
    reps = 12  # 96 lines, 60 sentence pairs after the markup is dropped
    for lang, lines in (("de", TRAIN_DE), ("en", TRAIN_EN)):
        (src / f"train.tags.de-en.{lang}").write_text("\n".join(lines * reps) + "\n", encoding="utf-8")
    archive = tmp / "de-en.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="de-en")
    out = tmp / "out"
    proc = run(["bash", REPO / "examples/translation/prepare-iwslt14.sh", out],
               env_extra={"IWSLT14_ARCHIVE": str(archive), "BPE_CODE": str(STD / "code"),
                          "IWSLT17_DIR": str(IWSLT / "iwslt17")}, timeout=1200)
    return out, proc


@pytest.mark.parametrize("lang", ["de", "en"])
def test_tokenized_test_set_is_the_standard_on_every_line(prepared, lang):
    out, _ = prepared
    n_ours, n_std, n_bad, first = mismatches(out / f"tok/test.{lang}", STD / f"tmp/test.{lang}")
    assert (n_ours, n_std) == (6750, 6750)
    assert n_bad == 0, f"{n_bad} lines differ from the standard, first: {first}"


@pytest.mark.parametrize("lang", ["de", "en"])
def test_bpe_test_set_is_the_standard_on_every_line(prepared, lang):
    out, _ = prepared
    assert (out / "code").read_bytes() == (STD / "code").read_bytes()
    n_ours, n_std, n_bad, first = mismatches(out / f"bpe/test.{lang}", STD / f"test.{lang}")
    assert (n_ours, n_std) == (6750, 6750)
    assert n_bad == 0, f"{n_bad} lines differ from the standard, first: {first}"


@pytest.mark.parametrize("lang", ["de", "en"])
def test_standard_code_on_standard_tokens_gives_standard_bpe(tmp_path, lang):
    """subword-nmt with the standard code reproduces the standard BPE'd test from
    the standard tokenized one: our BPE step is theirs, independent of our
    tokenizer."""
    bpe = tmp_path / f"test.{lang}"
    with open(STD / f"tmp/test.{lang}", "rb") as fin, open(bpe, "wb") as fout:
        subprocess.run([str(BIN / "subword-nmt"), "apply-bpe", "-c", str(STD / "code")],
                       stdin=fin, stdout=fout, check=True)
    assert bpe.read_bytes() == (STD / f"test.{lang}").read_bytes()


def test_training_text_gets_the_same_final_period_rule(prepared):
    out, proc = prepared
    train = (out / "tok/train.en").read_text().splitlines() + (out / "tok/valid.en").read_text().splitlines()
    train_de = (out / "tok/train.de").read_text().splitlines() + (out / "tok/valid.de").read_text().splitlines()
    assert "i live in the u.s.a ." in train and "that was in the year 75 ." in train
    assert "more at marshmallowchallenge.com ." in train
    assert "das war im jahr 75 ." in train_de
    assert "er kam am 3. mai nach hause ." in train_de  # an inner ordinal keeps its period
    assert "a story" in train and not any("talkid" in l or "url" in l or "keywords" in l for l in train)
    # 12 x 5 sentence pairs; every 23rd to valid
    assert "train / valid / test = 58 / 2 / 6750 pairs" in proc.stdout


def test_iwslt17_extra_test_sets(prepared):
    out, proc = prepared
    counts = {}
    for name, n in (("tst2016", 1133), ("tst2017", 1138)):
        for lang in ("de", "en"):
            lines = (out / f"tok/{name}.{lang}").read_text().splitlines()
            counts[name, lang] = len(lines)
            assert lines == [l.lower() for l in lines]
        assert counts[name, "de"] == counts[name, "en"] == n
        assert len((out / f"{name}.detok.en").read_text().splitlines()) == n
    # the first segment of tst2016, as in the archive (German side)
    assert (out / "tok/tst2016.de").read_text().splitlines()[0].startswith("wir stehen vor einem historischen wendepunkt :")
    log = (out / "preprocess.log").read_text()
    for subset, name, n in (("test", "test", 6750), ("test1", "tst2016", 1133), ("test2", "tst2017", 1138)):
        assert (out / f"data-bin/{subset}.de-en.de.bin").exists()
        assert f"[de] {out}/bpe/{name}.de: {n} sents" in log
    assert "test1 = IWSLT17 tst2016 (1133 pairs)" in proc.stdout
