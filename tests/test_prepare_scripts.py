"""prepare-iwslt14.sh and prepare-wmt14en2de.sh: their offline messages, and
their text pipelines on small corpora laid out like the real archives."""

import pytest
import tarfile

from cli import REPO, run

SCRIPT = REPO / "examples/translation/prepare-iwslt14.sh"
TEST_SETS = ["IWSLT14.TED.dev2010", "IWSLT14.TEDX.dev2012", "IWSLT14.TED.tst2010",
             "IWSLT14.TED.tst2011", "IWSLT14.TED.tst2012"]


def make_archive(tmp_path):
    src = tmp_path / "de-en"
    src.mkdir()
    de, en = [], []
    for i in range(66):
        de.append(f"Das ist Satz Nummer {i}, sagte Anna.")
        en.append(f"This is sentence number {i}, Anna said.")
    de[3], en[3] = "<url>http://www.ted.com/talks/x</url>", "<url>http://www.ted.com/talks/x</url>"
    de[4], en[4] = "<talkid>1</talkid>", "<talkid>1</talkid>"
    de[5], en[5] = "<title>Der Titel</title>", "<title>The Title</title>"
    de[6], en[6] = "Ein ganz kurzer.", "One two three four five six seven eight nine ten eleven."  # ratio
    (src / "train.tags.de-en.de").write_text("\n".join(de) + "\n")
    (src / "train.tags.de-en.en").write_text("\n".join(en) + "\n")
    for name in TEST_SETS:
        for lang, text in (("de", "Hallo Welt"), ("en", "Hello world")):
            (src / f"{name}.de-en.{lang}.xml").write_text(
                '<mteval>\n<doc docid="1">\n<talkid>1</talkid>\n'
                f'<seg id="1"> {text} </seg>\n<seg id="2">{text}\u2019s end</seg>\n</doc>\n</mteval>\n'
            )
    archive = tmp_path / "de-en.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="de-en")
    return archive


@pytest.mark.slow
def test_pipeline_on_a_small_archive(tmp_path):
    archive = make_archive(tmp_path)
    out = tmp_path / "out"
    proc = run(["bash", SCRIPT, out], env_extra={"IWSLT14_ARCHIVE": str(archive), "BPE_MERGES": "40"})
    # 66 lines - url - talkid - the ratio-violating pair = 63 pairs; every 23rd -> valid
    assert "train / valid / test = 61 / 2 / 10 pairs" in proc.stdout
    train_en = (out / "tok/train.en").read_text().splitlines()
    assert "the title" in train_en  # <title> unwrapped, lowercased, kept
    assert not any("url" in l or "talkid" in l for l in train_en)
    test_en = (out / "tok/test.en").read_text().splitlines()
    assert test_en[:2] == ["hello world", "hello world &apos;s end"]
    assert (out / "data-bin/train.de-en.de.bin").exists()
    assert (out / "test.detok.en").read_text().splitlines()[1] == "hello world's end"
    assert "@@" in (out / "bpe/train.de").read_text()  # BPE applied


@pytest.mark.slow
def test_offline_says_what_is_missing(tmp_path):
    out = tmp_path / "out"
    proc = run(["bash", SCRIPT, out], check=False,
               env_extra={"IWSLT14_URL": "http://127.0.0.1:9/de-en.tgz"})
    assert proc.returncode == 1
    assert "could not download the IWSLT 2014 De-En archive" in proc.stderr
    assert "http://127.0.0.1:9/de-en.tgz" in proc.stderr
    assert str(out / "orig/de-en.tgz") in proc.stderr and "IWSLT14_ARCHIVE" in proc.stderr


@pytest.mark.slow
def test_wmt14_offline_lists_every_file(tmp_path):
    out = tmp_path / "wmt"
    proc = run(["bash", REPO / "examples/translation/prepare-wmt14en2de.sh", out], check=False,
               env_extra={"WMT14_EUROPARL_URL": "http://127.0.0.1:9/training-parallel-europarl-v7.tgz"})
    assert proc.returncode == 1
    assert "could not download http://127.0.0.1:9/training-parallel-europarl-v7.tgz" in proc.stderr
    for name in ("training-parallel-commoncrawl.tgz", "training-parallel-nc-v12.tgz", "dev.tgz", "test-full.tgz"):
        assert name in proc.stderr
    assert str(out / "orig") in proc.stderr and "WMT14_ORIG" in proc.stderr


def test_wmt14_text_on_small_corpora(tmp_path):
    orig = tmp_path / "orig"
    (orig / "training").mkdir(parents=True)
    (orig / "test-full").mkdir()
    en = ["A well-known \u201ctest\u201d sentence number %d." % i for i in range(150)]
    de = ["Ein bekannter \u201eTest\u201c Satz Nummer %d." % i for i in range(150)]
    for i, corpus in enumerate(("europarl-v7.de-en", "commoncrawl.de-en", "training/news-commentary-v12.de-en")):
        (orig / f"{corpus}.en").write_text("\n".join(en[i * 50:(i + 1) * 50]) + "\n")
        (orig / f"{corpus}.de").write_text("\n".join(de[i * 50:(i + 1) * 50]) + "\n")
    for rel, text in (("test-full/newstest2014-deen-src.en.sgm", "Hello, world-wide test."),
                      ("test-full/newstest2014-deen-ref.de.sgm", "Hallo, weltweiter Test.")):
        (orig / rel).write_text(f'<srcset>\n<doc>\n<seg id="1">{text}</seg>\n</doc>\n</srcset>\n')
    out = tmp_path / "tok"
    script = REPO / "examples/translation/wmt14_text.py"
    run(["python", script, "train", orig, out])
    run(["python", script, "test", orig, out])
    train_en = (out / "train.en").read_text().splitlines()
    assert len(train_en) == 149 and len((out / "valid.en").read_text().splitlines()) == 1
    assert "well @-@ known" in train_en[0]  # aggressive hyphen splitting
    assert train_en[0].startswith("A ")  # cased
    assert (out / "test.en").read_text() == "Hello , world @-@ wide test .\n"
    assert (out / "test.raw.de").read_text() == "Hallo, weltweiter Test.\n"  # sacreBLEU's reference
