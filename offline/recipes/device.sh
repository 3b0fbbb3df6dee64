#!/usr/bin/env bash
# One short training on a lent GPU machine (the `device` tool; some sessions are lent one for a
# few minutes, never to be depended on), and its checkpoints back. Nothing can be rendered there:
# the training kits and instruments (FluidR3 148 MB, MuseScore General 490 MB) do not fit in the
# 64 MiB a run carries. So the features travel: this VM renders and computes them (it does both at
# 25-50x real time), `rtadt-train pack` stores some of them as uint8 steps (about 15 MB an hour
# after xz), and the GPU only trains, several seeds at once from the same weights, for a
# weight average back here.
#
# 1. Here, before the session's device call (about 1 min an hour of features; CACHE is a feature
#    cache a CPU training built, e.g. the one offline/recipes/default-model.sh step 12 builds):
#      bash offline/recipes/device.sh pack CACHE [HOURS=1.5]
#    -> .device/pack.tar.xz: every validation track, every ENST training track, and other
#       training tracks drawn at random until HOURS of training audio are in (ENST's counted). It fails if that and the working tree (28 MiB) are over
#       the 64 MiB a run carries: about 2 h of features fit, validation included.
# 2. The device call (the `run` tool), carrying .device, timeout_s 600 (a command's most; each training
#    is stopped by timeout at MINUTES + 2 min, so MINUTES is at most 6 and 4 leaves room for the rest):
#      bash offline/recipes/device.sh train [MINUTES=4] [SEEDS="31 32 33"] [INIT=offline/checkpoints/default-crnn.pt]
#    -> $OUT/SEED-best.pt and $OUT/SEED-log.jsonl per seed (weights-only, 2.5 MB each) and train.log.
#    The trainings' options are the v5 continuation's (offline/results/default-model/README.md):
#    20 ms lookahead, level-normalised features, ENST drummer 1 a tenth of the segments, lr 3e-4.
# 3. Back here, as for any CPU run:
#      rtadt-train average a=$FILES/31-best.pt b=$FILES/32-best.pt c=$FILES/33-best.pt -o soup.pt
#      then export, tune and report (default-model.sh's `bundle` and SETS).
# Checked here on the CPU with DEVICE=cpu and the packages the GPU image lacks hidden
# (tests/test_device_recipe.py); no GPU has run it yet: no device was lent to the sessions since
# it was written.
#
# Environment: DEVICE (torch device, default cuda), DEVICE_DIR (default .device), BATCHES (batches
# per epoch, default 1000: validation, whose peak picking runs on the CPU, then comes once per 8000
# segments trained, where a CPU run here validates every 1200).
set -euo pipefail
has_enst_training() {  # MANIFEST: does this cache hold training tracks of ENST (which --share draws)?
  python3 -c 'import json, sys
sys.exit(not any(t["dataset"] == "enst" and t["split"] == "train" for t in json.load(open(sys.argv[1]))["tracks"]))' "$1"
}
case "${1:-}" in
pack)
  cache=$(realpath "${2:?usage: device.sh pack CACHE [HOURS]}")  # before the cd below
  hours=${3:-1.5}
  [ -f "$cache/manifest.json" ] || { echo "$cache: no feature cache here (manifest.json missing)" >&2; exit 2; }
  cd "$(dirname "$0")/../.."
  D=${DEVICE_DIR:-.device}
  rm -rf "$D" && mkdir -p "$D"
  keep=()
  if has_enst_training "$cache/manifest.json"; then keep=(--keep enst); fi
  rtadt-train pack "$cache" -o "$D/cache" --hours "$hours" "${keep[@]}"
  # xz's delta filter at the features' 84 bands (FeatureConfig's default) subtracts each band's
  # previous frame: 15 MB an hour instead of 18
  tar -cf - -C "$D/cache" . | xz -T1 --delta=dist=84 --lzma2=preset=6 > "$D/pack.tar.xz"
  rm -rf "$D/cache"
  tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | du -cb --files0-from=- | tail -1 | cut -f1)
  pack=$(stat -c %s "$D/pack.tar.xz")
  total=$(( (tree + pack) / 1048576 ))
  echo "$D/pack.tar.xz: $(( pack / 1048576 )) MiB; with the working tree $total MiB to carry (at most 64)"
  if (( tree + pack > 64 * 1048576 )); then
    echo "over the device's 64 MiB: pack fewer hours" >&2
    exit 1
  fi
  ;;
train)
  minutes=${2:-4}
  seeds=${3:-31 32 33}
  cd "$(dirname "$0")/../.."
  D=${DEVICE_DIR:-.device}
  init=${4:-offline/checkpoints/default-crnn.pt}  # committed, so it travels with the working tree
  out=${OUT:-$D/out}
  work=$(mktemp -d)
  mkdir -p "$out" "$work/pack"
  # Python's tarfile and lzma, not the xz program, which the GPU image may lack
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="data")' \
      "$D/pack.tar.xz" "$work/pack"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2> /dev/null || true
  share=()
  if has_enst_training "$work/pack/manifest.json"; then share=(--share enst=0.1); fi
  # the model's size is the starting checkpoint's (a widened default has more units than the defaults)
  read -r -a size < <(python3 -c 'import sys, torch
c = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
print(" ".join(f"--set {k}={v}" for k, v in c["hyperparameters"].items()))' "$init")
  # --minutes is looked at when an epoch ends; timeout bounds a slow last epoch (best.pt stays)
  limit=$(python3 -c 'import sys; print(int(float(sys.argv[1]) * 60) + 120)' "$minutes")
  pids=()
  for seed in $seeds; do
    # python3 -m: the GPU image holds torch and the project's other needs, not an installed rtadt-train
    PYTHONUNBUFFERED=1 timeout "$limit" python3 -m offline.cli fit crnn --from-cache "$work/pack" \
        --out "$work/run-$seed" --lookahead 0.02 --level-norm --init-from "$init" "${size[@]}" "${share[@]}" --lr 0.0003 \
        --epochs 1000 --batches-per-epoch "${BATCHES:-1000}" --minutes "$minutes" --seed "$seed" \
        --device "${DEVICE:-cuda}" > "$work/run-$seed.log" 2>&1 &
    pids+=($!)
  done
  status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
  for seed in $seeds; do  # every seed's checkpoint that exists comes back, whatever the others did
    echo "seed $seed: $(tail -c 400 "$work/run-$seed.log" | tr '\r' '\n' | grep -v '^\s*$' | tail -n 1)"
    for f in best.pt log.jsonl; do
      if [ -f "$work/run-$seed/$f" ]; then cp "$work/run-$seed/$f" "$out/$seed-$f"; else echo "seed $seed: no $f"; fi
    done
  done 2>&1 | tee "$out/train.log"
  exit $status
  ;;
*)
  echo "usage: device.sh pack CACHE [HOURS] | device.sh train [MINUTES] [SEEDS] [INIT]" >&2
  exit 2
  ;;
esac
