#!/usr/bin/env python
"""Joint sentencepiece BPE for a parallel corpus: learn on train, apply, undo.

    spm_bpe.py train  --model M --vocab-size 8000 train.de train.en
    spm_bpe.py encode --model M.model < raw > pieces
    spm_bpe.py decode --model M.model < pieces > raw     (detokenized text)
"""

import argparse
import sys

import sentencepiece as spm


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="learn a joint BPE model on the given files")
    t.add_argument("--model", required=True, help="output prefix (writes PREFIX.model/.vocab)")
    t.add_argument("--vocab-size", type=int, default=8000, help="BPE vocabulary size")
    t.add_argument("inputs", nargs="+", help="training text files (train split only)")
    for name in ("encode", "decode"):
        s = sub.add_parser(name, help=f"{name} stdin to stdout")
        s.add_argument("--model", required=True, help="PREFIX.model from 'train'")
    args = p.parse_args(argv)

    if args.cmd == "train":
        if args.vocab_size < 100:
            p.error(f"--vocab-size: expected an integer >= 100, got {args.vocab_size}")
        spm.SentencePieceTrainer.train(
            input=",".join(args.inputs),
            model_prefix=args.model,
            vocab_size=args.vocab_size,
            model_type="bpe",
            character_coverage=1.0,
            # fairseq adds its own <s>, <pad>, </s>, <unk>; keep sentencepiece's
            # control symbols out of the fairseq dictionary.
            bos_id=-1, eos_id=-1, unk_id=0,
            num_threads=2,
            minloglevel=2,
        )
        return
    sp = spm.SentencePieceProcessor(model_file=args.model)
    for line in sys.stdin:
        line = line.rstrip("\n")
        if args.cmd == "encode":
            out = " ".join(sp.encode(line, out_type=str))
        else:
            out = sp.decode(line.split())
        sys.stdout.write(out + "\n")


if __name__ == "__main__":
    main()
