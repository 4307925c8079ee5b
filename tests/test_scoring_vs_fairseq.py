"""Our tokenized BLEU (scripts/score_generate.py) equals fairseq's own, on real
model output: tests/data/generate_multi30k_test2016.txt is fairseq-generate's
output (S/T/H lines and its final BLEU4 line) for Multi30k test2016 from a real
model (pilot G's baseline, docs/results/converged/pilots/). Compared with:
fairseq-generate's BLEU4 line (--scoring bleu, its default), fairseq-score run
here on the same hypotheses and references, and fairseq's
scripts/compound_split_bleu.sh rule (its perl one-liner, run here with perl)."""

import re

import pytest

from cli import BIN, MULTI30K, REPO, run

from rdrop_analysis import score_generate

GENERATE = REPO / "tests/data/generate_multi30k_test2016.txt"
# fairseq's scripts/compound_split_bleu.sh applies this to the H and T text
COMPOUND_SPLIT_PERL = r"s{(\S)-(\S)}{$1 ##AT##-##AT## $2}g"


def bleu4(text: str) -> float:
    m = re.search(r"BLEU4 = ([0-9.]+),", text)
    assert m, text[-500:]
    return float(m.group(1))


@pytest.fixture(scope="module")
def ours():
    result, _ = score_generate.score(GENERATE, MULTI30K / "test.en", "en", "none", split_compounds=False)
    return result


@pytest.fixture(scope="module")
def sys_ref(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("score")
    hyps, refs = score_generate.read_generate(GENERATE)
    (tmp / "sys").write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    (tmp / "ref").write_text("".join(r + "\n" for r in refs), encoding="utf-8")
    return tmp


def perl_split(path, out):
    run(["bash", "-c", f"perl -ple '{COMPOUND_SPLIT_PERL}' < {path} > {out}"])
    return out


def fairseq_score(sys_path, ref_path):
    return bleu4(run([BIN / "fairseq-score", "--sys", sys_path, "--ref", ref_path]).stdout)


def test_equals_fairseq_generates_bleu4_line(ours):
    assert ours["sentences"] == 1000
    assert ours["tokenized_bleu_plain"] == bleu4(GENERATE.read_text().splitlines()[-1]) == 19.90


def test_equals_fairseq_score(ours, sys_ref):
    assert abs(fairseq_score(sys_ref / "sys", sys_ref / "ref") - ours["tokenized_bleu_plain"]) < 0.006


def test_compound_split_equals_fairseqs_rule_and_score(ours, sys_ref):
    tricky = ["a-b-c d", "e-mail-adresse", "x - y", "-a a- --", "t-shirt, well-known"]
    (sys_ref / "tricky").write_text("\n".join(tricky) + "\n")
    expected = perl_split(sys_ref / "tricky", sys_ref / "tricky.perl").read_text().splitlines()
    assert [score_generate.compound_split(t) for t in tricky] == expected
    for name in ("sys", "ref"):
        perl = perl_split(sys_ref / name, sys_ref / f"{name}.split").read_text().splitlines()
        mine = [score_generate.compound_split(l) for l in (sys_ref / name).read_text().splitlines()]
        assert mine == perl
    assert sum("##AT##" in l for l in (sys_ref / "ref.split").read_text().splitlines()) > 20
    theirs = fairseq_score(sys_ref / "sys.split", sys_ref / "ref.split")
    assert abs(theirs - ours["tokenized_bleu_compound_split"]) < 0.006
    assert ours["tokenized_bleu_compound_split"] != ours["tokenized_bleu_plain"]


def test_no_smoothing_a_zero_precision_gives_zero():
    """fairseq's scorer has no smoothing: with no matching 4-gram the BLEU is 0
    (sacreBLEU's default 'exp' smoothing would give more)."""
    hyps, refs = ["a b c d e", "f g h"], ["a b c x e", "f g y"]
    assert score_generate.tokenized_bleu(hyps, refs) == 0.0
