#!/usr/bin/env bash
# Train several reader configurations side by side on one GPU machine, score each on the
# development sets only (QED dev, FairytaleQA val: never XQuAD-en or the COVID-QA held-out
# papers, which report), and keep the best in OUT/best. Needs only torch, transformers,
# numpy and opentelemetry-api there (no MLflow, Redis or gRPC). Then, where the MLflow
# store is:   python -m services.qa.training run --trained OUT/best
#
#   scripts/train-reader-gpu.sh DATA_DIR BASE_MODEL OUT [extra train options...]
#   BUDGET=4 (minutes of training per configuration, all running at once)
#   CONFIGS_FILE=FILE: lines "NAME TRAIN-OPTIONS" instead of the four below ($ALL expands)
set -euo pipefail
PY=${PYTHON:-python3}
DATA=${1:?usage: $0 DATA_DIR BASE_MODEL OUT [train options]}
BASE=${2:?base model folder}
OUT=${3:?output folder}
shift 3
BUDGET=${BUDGET:-4}
mkdir -p "$OUT"
ALL="--share squadshifts_amazon_reviews_v1.0.json=1 --share squadshifts_reddit_v1.0.json=1"
ALL="$ALL --share fairytaleqa_squad_train.json=1"
COMMON="--data-dir $DATA --base $BASE --time-budget $BUDGET --threads 3 --batch-size 32 --float16"
declare -A CONFIGS=(
  [a]="--max-seq-len 384 --doc-stride 128 --lr 1e-4 --epochs 3 --neg-ratio 0.3 $ALL"
  [b]="--max-seq-len 384 --doc-stride 128 --lr 2e-4 --epochs 3 --neg-ratio 0.3 $ALL"
  [c]="--max-seq-len 256 --doc-stride 96 --lr 1e-4 --epochs 3 --neg-ratio 0.1 $ALL"
  [d]="--max-seq-len 384 --doc-stride 128 --lr 1e-4 --epochs 4 --neg-ratio 0.3"
)
if [[ -n ${CONFIGS_FILE:-} ]]; then
  CONFIGS=()
  while read -r name opts; do
    [[ -z $name || $name == \#* ]] && continue
    CONFIGS[$name]=${opts//\$ALL/$ALL}
  done <"$CONFIGS_FILE"
fi
for k in "${!CONFIGS[@]}"; do
  echo "config $k: ${CONFIGS[$k]}" | tee "$OUT/$k.log"
  # shellcheck disable=SC2086
  $PY -m services.qa.training train $COMMON ${CONFIGS[$k]} "$@" --out "$OUT/$k" >>"$OUT/$k.log" 2>&1 &
done
wait
for k in "${!CONFIGS[@]}"; do
  $PY -m services.qa.training score "$OUT/$k" --data-dir "$DATA" --set qed-dev \
    --set fairytaleqa-val --json "$OUT/$k.dev.json" "$@" >>"$OUT/$k.log" 2>&1 &
done
wait
for k in "${!CONFIGS[@]}"; do echo "$k ${CONFIGS[$k]}"; done >"$OUT/configs.txt"
# the best mean dev F1 wins; the choice and every configuration's dev F1 go into its record
best=$($PY - "$OUT" <<'PYEOF'
import json, sys
out = sys.argv[1]
configs = dict(line.rstrip("\n").split(" ", 1) for line in open(f"{out}/configs.txt"))
dev = {n: json.load(open(f"{out}/{n}.dev.json")) for n in configs}
mean = {n: sum(s["f1"] for s in d.values()) / len(d) for n, d in dev.items()}
for n in sorted(mean, key=mean.get, reverse=True):
    print(n, f"mean dev F1 {mean[n]:.2f}", {k: round(v["f1"], 2) for k, v in dev[n].items()}, file=sys.stderr)
best = max(mean, key=mean.get)
path = f"{out}/{best}/arxivqa_training.json"
record = json.load(open(path))
record["selection"] = {
    "chosen": best,
    "chosen_on": "mean F1 of " + " and ".join(dev[best]),
    "configs": configs,
    "dev_f1": {n: {k: round(v["f1"], 2) for k, v in d.items()} for n, d in dev.items()},
}
json.dump(record, open(path, "w"), indent=2)
print(best)
PYEOF
)
echo "best: $best (${CONFIGS[$best]})"
cp -r "$OUT/$best" "$OUT/best"
