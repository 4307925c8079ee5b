"""prepare-iwslt14.sh: its offline message, and the whole pipeline on a small
archive laid out like the real IWSLT 2014 one."""

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
    assert "@@" in (out / "bpe/train.de").read_text()  # BPE applied


def test_offline_says_what_is_missing(tmp_path):
    out = tmp_path / "out"
    proc = run(["bash", SCRIPT, out], check=False,
               env_extra={"IWSLT14_URL": "http://127.0.0.1:9/de-en.tgz"})
    assert proc.returncode == 1
    assert "could not download the IWSLT 2014 De-En archive" in proc.stderr
    assert "http://127.0.0.1:9/de-en.tgz" in proc.stderr
    assert str(out / "orig/de-en.tgz") in proc.stderr and "IWSLT14_ARCHIVE" in proc.stderr
