#!/usr/bin/env python
"""Text steps of the standard WMT14 En-De preparation (fairseq's
examples/translation/prepare-wmt14en2de.sh), with sacremoses instead of a git
clone of mosesdecoder.

    wmt14_text.py train ORIG_DIR OUT_DIR   # europarl v7 + commoncrawl + news-commentary v12
    wmt14_text.py test  ORIG_DIR OUT_DIR   # newstest2014 (the full En-De version)

train: each corpus side Moses-normalised (punctuation, non-printing characters)
and tokenised with aggressive hyphen splitting (-a), pairs cleaned with
clean-corpus-n (ratio 1.5, 1 to 250 tokens); every 100th pair goes to valid.
Not lowercased (WMT is cased). test: the <seg> lines of newstest2014-deen
(src.en / ref.de), tokenised (-a) without normalisation, as the reference does.
"""

import argparse
import re
import sys
from pathlib import Path

from iwslt14_text import keep_pair

CORPORA = ("europarl-v7.de-en", "commoncrawl.de-en", "training/news-commentary-v12.de-en")
TEST = {"en": "test-full/newstest2014-deen-src.en.sgm", "de": "test-full/newstest2014-deen-ref.de.sgm"}
SEG = re.compile(r"<seg[^>]*>\s*(.*?)\s*</seg>")


def pipeline(lang, normalize=True):
    from sacremoses import MosesPunctNormalizer, MosesTokenizer

    norm, tok = MosesPunctNormalizer(lang=lang), MosesTokenizer(lang=lang)

    def run(line: str) -> str:
        # normalize-punctuation.perl, remove-non-printing-char.perl, tokenizer.perl -a
        text = line.strip()
        if normalize:
            text = norm.normalize(text)
            text = "".join(c if c.isprintable() else " " for c in text)
        return tok.tokenize(text, aggressive_dash_splits=True, return_str=True, escape=True)

    return run


def prepare_train(orig: Path, out: Path):
    proc = {l: pipeline(l) for l in ("en", "de")}
    pairs = []
    for corpus in CORPORA:
        files = {l: orig / f"{corpus}.{l}" for l in ("en", "de")}
        for f in files.values():
            if not f.is_file():
                sys.exit(f"wmt14_text: missing {f}")
        with open(files["en"], encoding="utf-8", errors="replace") as fe, \
                open(files["de"], encoding="utf-8", errors="replace") as fd:
            for en, de in zip(fe, fd):
                en_t, de_t = proc["en"](en), proc["de"](de)
                if keep_pair(en_t, de_t, max_len=250):
                    pairs.append((en_t, de_t))
    out.mkdir(parents=True, exist_ok=True)
    splits = {"train": [p for i, p in enumerate(pairs, 1) if i % 100 != 0],
              "valid": [p for i, p in enumerate(pairs, 1) if i % 100 == 0]}
    for split, ps in splits.items():
        for k, l in enumerate(("en", "de")):
            (out / f"{split}.{l}").write_text("".join(p[k] + "\n" for p in ps), encoding="utf-8")
    return {s: len(p) for s, p in splits.items()}


def prepare_test(orig: Path, out: Path):
    lines, raw = {}, {}
    for l, rel in TEST.items():
        f = orig / rel
        if not f.is_file():
            sys.exit(f"wmt14_text: missing {f}")
        run = pipeline(l, normalize=False)  # the reference tokenises test only
        raw[l] = [m.group(1) for m in map(SEG.search, f.read_text(encoding="utf-8").splitlines()) if m]
        lines[l] = [run(t) for t in raw[l]]
    if len(lines["en"]) != len(lines["de"]):
        sys.exit("wmt14_text: newstest2014 sides differ in length")
    out.mkdir(parents=True, exist_ok=True)
    for l, ls in lines.items():
        (out / f"test.{l}").write_text("".join(s + "\n" for s in ls), encoding="utf-8")
        # the untokenized text: sacreBLEU's reference (score.sh RAW_REF)
        (out / f"test.raw.{l}").write_text("".join(s + "\n" for s in raw[l]), encoding="utf-8")
    return {"test": len(lines["en"])}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["train", "test"], help="which split(s) to make")
    p.add_argument("orig", type=Path, help="folder the WMT archives were extracted into")
    p.add_argument("out", type=Path, help="where to write tokenised text")
    args = p.parse_args(argv)
    counts = (prepare_train if args.step == "train" else prepare_test)(args.orig, args.out)
    print("wmt14_text: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
