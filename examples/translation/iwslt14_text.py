#!/usr/bin/env python
"""Text steps of the standard IWSLT14 De-En preparation (fairseq's
examples/translation/prepare-iwslt14.sh), with PyPI tools instead of git clones
of mosesdecoder: sacremoses for tokenisation, Python for the cleaning.

    iwslt14_text.py train  SRC_DIR OUT_DIR    # train.tags.de-en.{de,en} -> train/valid
    iwslt14_text.py test   SRC_DIR OUT_DIR    # the dev/tst XML files -> test

Steps, as in the reference script:
  train: drop the <url>, <talkid>, <keywords> lines, unwrap <title> and
         <description> (their text stays), Moses-tokenise
         each side, remove pairs with an empty side, more than 175 tokens or a
         length ratio above 1.5 (clean-corpus-n.perl 1 175, -ratio 1.5),
         lowercase; every 23rd remaining pair goes to valid, the rest to train.
  test:  the <seg> lines (with \u2019 -> ') of IWSLT14.TED.dev2010, IWSLT14.TEDX.dev2012,
         IWSLT14.TED.tst2010, tst2011, tst2012, tokenised and lowercased.
"""

import argparse
import re
import sys
from pathlib import Path

LANGS = ("de", "en")
TEST_SETS = ("IWSLT14.TED.dev2010", "IWSLT14.TEDX.dev2012", "IWSLT14.TED.tst2010",
             "IWSLT14.TED.tst2011", "IWSLT14.TED.tst2012")
MARKUP = ("<url>", "<talkid>", "<keywords>")  # lines dropped (grep -v)
UNWRAP = re.compile(r"</?(title|description)>")  # tags removed, text kept
SEG = re.compile(r"<seg[^>]*>\s*(.*?)\s*</seg>")


def tokenizers():
    from sacremoses import MosesTokenizer

    return {lang: MosesTokenizer(lang=lang) for lang in LANGS}


def tokenize(tok, line: str) -> str:
    # Moses' tokenizer.perl -threads 8 -l LANG (escape on, as the reference).
    return tok.tokenize(line.strip(), return_str=True, escape=True)


def keep_pair(src: str, tgt: str, max_len=175, ratio=1.5) -> bool:
    """clean-corpus-n.perl -ratio 1.5 CORPUS de en OUT 1 175."""
    ns, nt = len(src.split()), len(tgt.split())
    if ns == 0 or nt == 0 or ns > max_len or nt > max_len:
        return False
    return ns / nt <= ratio and nt / ns <= ratio


def prepare_train(src_dir: Path, out_dir: Path):
    files = {l: src_dir / f"train.tags.de-en.{l}" for l in LANGS}
    for f in files.values():
        if not f.is_file():
            sys.exit(f"iwslt14_text: missing {f}")
    lines = {l: files[l].read_text(encoding="utf-8").splitlines() for l in LANGS}
    if len(lines["de"]) != len(lines["en"]):
        sys.exit(f"iwslt14_text: {files['de']} and {files['en']} differ in length")
    tok = tokenizers()
    pairs = []
    for de, en in zip(lines["de"], lines["en"]):
        if any(m in de for m in MARKUP) or any(m in en for m in MARKUP):
            continue
        de_t = tokenize(tok["de"], UNWRAP.sub("", de))
        en_t = tokenize(tok["en"], UNWRAP.sub("", en))
        if keep_pair(de_t, en_t):
            pairs.append((de_t.lower(), en_t.lower()))
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = {"train": [p for i, p in enumerate(pairs, 1) if i % 23 != 0],
              "valid": [p for i, p in enumerate(pairs, 1) if i % 23 == 0]}
    for split, ps in splits.items():
        for k, l in enumerate(LANGS):
            (out_dir / f"{split}.{l}").write_text("".join(p[k] + "\n" for p in ps), encoding="utf-8")
    return {s: len(p) for s, p in splits.items()}


def prepare_test(src_dir: Path, out_dir: Path):
    tok = tokenizers()
    out = {l: [] for l in LANGS}
    for name in TEST_SETS:
        for l in LANGS:
            f = src_dir / f"{name}.de-en.{l}.xml"
            if not f.is_file():
                sys.exit(f"iwslt14_text: missing {f}")
            for line in f.read_text(encoding="utf-8").splitlines():
                m = SEG.search(line)
                if m:
                    text = m.group(1).replace("\u2019", "'")  # as the reference's sed
                    out[l].append(tokenize(tok[l], text).lower())
    if len(out["de"]) != len(out["en"]):
        sys.exit("iwslt14_text: test sides differ in length")
    out_dir.mkdir(parents=True, exist_ok=True)
    for l in LANGS:
        (out_dir / f"test.{l}").write_text("".join(s + "\n" for s in out[l]), encoding="utf-8")
    return {"test": len(out["de"])}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["train", "test"], help="which split(s) to make")
    p.add_argument("src_dir", type=Path, help="the extracted de-en folder of the IWSLT14 archive")
    p.add_argument("out_dir", type=Path, help="where to write tokenised, lowercased text")
    args = p.parse_args(argv)
    counts = (prepare_train if args.step == "train" else prepare_test)(args.src_dir, args.out_dir)
    print("iwslt14_text: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
