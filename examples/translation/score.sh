#!/usr/bin/env bash
# Beam-5 test scores of a checkpoint, both ways the literature reports them:
#   - fairseq-generate's BLEU on the sentencepiece-decoded output, split on
#     spaces (the "tokenized BLEU" of fairseq papers);
#   - sacreBLEU on detokenized output against the raw references, with signature.
#
#   score.sh DATA_BIN CHECKPOINT RAW_REF OUT_DIR [extra fairseq-generate flags]
#
# Writes OUT_DIR/{generate.txt, hyp.txt, bleu.json} and prints both scores.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DATA=$1; CKPT=$2; REF=$3; OUT=$4; shift 4
mkdir -p "$OUT"
# --required-batch-size-multiple 1: fairseq 0.12 drops a last batch of fewer
# than 8 sentences (facebookresearch/fairseq#5036).
fairseq-generate "$DATA" --user-dir "$ROOT/rdrop_fairseq" --gen-subset test --path "$CKPT" \
  --beam 5 --max-tokens 8000 --remove-bpe sentencepiece --required-batch-size-multiple 1 \
  "$@" > "$OUT/generate.txt" 2> "$OUT/generate.log"
grep -P '^H-' "$OUT/generate.txt" | sort -t- -k2 -n | cut -f3 > "$OUT/hyp.txt"
nhyp=$(wc -l < "$OUT/hyp.txt"); nref=$(wc -l < "$REF")
[ "$nhyp" = "$nref" ] || { echo "score: $nhyp hypotheses for $nref references" >&2; exit 1; }
tok=$(grep -oP 'BLEU4? = \K[0-9.]+' "$OUT/generate.txt" | tail -1)
sacrebleu "$REF" -i "$OUT/hyp.txt" -m bleu -w 2 > "$OUT/sacrebleu.json"
"${PYTHON:-python}" - "$OUT" "$tok" <<'PY'
import json, sys
out, tok = sys.argv[1], float(sys.argv[2])
sb = json.load(open(f"{out}/sacrebleu.json"))
res = {"sacrebleu": sb["score"], "sacrebleu_signature": sb["signature"], "tokenized_bleu": tok}
json.dump(res, open(f"{out}/bleu.json", "w"), indent=1)
print(f"score: sacreBLEU {res['sacrebleu']:.2f} ({res['sacrebleu_signature']}), tokenized BLEU {tok:.2f}")
PY
