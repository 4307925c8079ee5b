#!/usr/bin/env python
"""BLEU of a fairseq-generate output, both ways papers report it.

    python scripts/score_generate.py generate.txt --ref test.en [--detok moses]
        [--compound-split] [--json bleu.json] [--hyp-out hyp.txt]

- tokenized BLEU: the hypotheses (H-) against fairseq's own references (T-), as
  tokenized by the data preparation, with no further tokenisation and no
  smoothing: the number fairseq-generate's BLEU4 line and fairseq-score give
  (tests/test_scoring_vs_fairseq.py), and what the R-Drop paper reports.
  ``--compound-split`` makes the headline ``tokenized_bleu`` the one after
  splitting hyphenated compounds (a-b -> a ##AT##-##AT## b), as fairseq's
  compound_split_bleu.sh does for WMT14 En-De (and the official R-Drop
  inference script for IWSLT14 too); both variants are always in the JSON
  (``tokenized_bleu_plain``, ``tokenized_bleu_compound_split``).
- sacreBLEU: detokenized hypotheses (``--detok moses`` for Moses-tokenized
  data; ``none`` when generate already printed raw text, e.g. with
  ``--remove-bpe sentencepiece``) against the raw reference file ``--ref``, with
  sacreBLEU's default 13a tokenisation and its signature.

Fails if the number of hypotheses differs from the number of references.
"""

import argparse
import json
import re
import sys
from pathlib import Path

COMPOUND = re.compile(r"(\S)-(\S)")


def read_generate(path: Path):
    hyps, refs = {}, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("H-"):
            idx, _score, text = (line[2:].split("\t") + ["", ""])[:3]
            hyps[int(idx)] = text
        elif line.startswith("T-"):
            idx, text = (line[2:].split("\t", 1) + [""])[:2]
            refs[int(idx)] = text
    order = sorted(hyps)
    return [hyps[i] for i in order], [refs.get(i, "") for i in order]


def compound_split(s: str) -> str:
    """One global pass of fairseq's ``s{(\\S)-(\\S)}{$1 ##AT##-##AT## $2}g``
    (a single pass: the replacement itself contains '#-#')."""
    return COMPOUND.sub(r"\1 ##AT##-##AT## \2", s)


def tokenized_bleu(hyps, refs) -> float:
    """Corpus BLEU-4 on whitespace tokens, one reference, no smoothing (a zero
    n-gram precision gives 0, as in fairseq's scorer and multi-bleu.perl)."""
    import sacrebleu

    return sacrebleu.corpus_bleu(hyps, [refs], tokenize="none", smooth_method="none").score


def score(generate: Path, ref: Path, lang: str, detok: str, split_compounds: bool):
    import sacrebleu

    hyps, tok_refs = read_generate(generate)
    raw_refs = ref.read_text(encoding="utf-8").splitlines()
    if len(hyps) != len(raw_refs):
        raise SystemExit(f"score_generate: {len(hyps)} hypotheses for {len(raw_refs)} references in {ref}")
    plain = tokenized_bleu(hyps, tok_refs)
    split = tokenized_bleu([compound_split(h) for h in hyps], [compound_split(r) for r in tok_refs])
    if detok == "moses":
        from sacremoses import MosesDetokenizer

        md = MosesDetokenizer(lang=lang)
        detok_hyps = [md.detokenize(h.split()) for h in hyps]
    else:
        detok_hyps = hyps
    sb = sacrebleu.metrics.BLEU()
    detok_score = sb.corpus_score(detok_hyps, [raw_refs])
    return {
        "tokenized_bleu": round(split if split_compounds else plain, 2),
        "compound_split": split_compounds,
        "tokenized_bleu_plain": round(plain, 2),
        "tokenized_bleu_compound_split": round(split, 2),
        "sacrebleu": round(detok_score.score, 2),
        "sacrebleu_signature": str(sb.get_signature()),
        "sentences": len(hyps),
    }, detok_hyps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("generate", type=Path, help="fairseq-generate's stdout")
    p.add_argument("--ref", type=Path, required=True, help="raw (detokenized) reference file, one line per test sentence")
    p.add_argument("--lang", default="en", help="target language for the Moses detokenizer")
    p.add_argument("--detok", choices=["none", "moses"], default="none", help="how to detokenize the hypotheses for sacreBLEU")
    p.add_argument("--compound-split", action="store_true", help="split hyphenated compounds for tokenized BLEU (WMT14 En-De)")
    p.add_argument("--json", type=Path, help="write the scores here")
    p.add_argument("--hyp-out", type=Path, help="write the detokenized hypotheses here, in test order")
    args = p.parse_args(argv)
    for flag, path in (("generate", args.generate), ("--ref", args.ref)):
        if not path.is_file():
            p.error(f"{flag}: no such file: {path}")
    result, detok_hyps = score(args.generate, args.ref, args.lang, args.detok, args.compound_split)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.hyp_out:
        args.hyp_out.write_text("".join(h + "\n" for h in detok_hyps), encoding="utf-8")
    print(f"tokenized BLEU {result['tokenized_bleu']:.2f}"
          f"{' (compound split)' if args.compound_split else ''}; "
          f"sacreBLEU {result['sacrebleu']:.2f} ({result['sacrebleu_signature']})")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
