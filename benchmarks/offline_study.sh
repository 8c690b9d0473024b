#!/usr/bin/env bash
# The offline study of docs/RESULTS.md: WGCSL, GCSL and goal-conditioned BC trained from the same
# Minari datasets (random and expert) of each task, seeds x train steps, as the WGCSL paper's table.
#
#   OUT=~/bench/offline bash benchmarks/offline_study.sh
#
# 1. Datasets (skipped where they exist): EPISODES episodes of each task by c_learning.collect,
#    'random' (uniform actions) and 'expert' (the greedy policy of a trained run, Gaussian noise
#    NOISE_STD of the action range), under $OUT/datasets. A task's expert dataset needs its run:
#    EXPERT_<TASK>=<train_eval root_dir>; without one the task has a random dataset only.
# 2. Runs: benchmarks/learning.py per task and agent, a variant per dataset, TRAIN_STEPS train
#    steps (no env steps), eval every EVAL_INTERVAL, resumable like every learning.py sweep.
# 3. The report: $OUT/results.md (final success and sparse return per task/agent/dataset).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the study folder}
PYTHON=${PYTHON:-python}
TASKS=${TASKS:-point_mass sawyer_reach fetch_reach fetch_push}
AGENTS=${AGENTS:-wgcsl gcsl goal_bc}
SEEDS=${SEEDS:-0,1,2}
EPISODES=${EPISODES:-2000}
NOISE_STD=${NOISE_STD:-0.1}
TRAIN_STEPS=${TRAIN_STEPS:-10000}
EVAL_INTERVAL=${EVAL_INTERVAL:-2000}
PARALLEL=${PARALLEL:-2}
export MINARI_DATASETS_PATH="$OUT/datasets"

env_name_of() {  # the env a task's runs use
  case "$1" in
    fetch_reach) echo 'gym:FetchReach-v4' ;;
    fetch_push) echo 'gym:FetchPush-v4' ;;
    *) echo "$1" ;;
  esac
}

expert_of() {  # EXPERT_<TASK> (upper case), or nothing
  local name="EXPERT_${1^^}"
  echo "${!name:-}"
}

collect() {  # collect TASK KIND [collect flags...]
  local task=$1 kind=$2
  shift 2
  if [ -e "$MINARI_DATASETS_PATH/c_learning/$task-$kind-v0" ]; then
    return
  fi
  "$PYTHON" -m c_learning.collect --dataset_id="c_learning/$task-$kind-v0" \
    --episodes="$EPISODES" --seed=100 "$@" 2>&1 | grep -v -i warn | tail -n 1
}

for task in $TASKS; do
  collect "$task" random --env_name="$(env_name_of "$task")"
  expert=$(expert_of "$task")
  if [ -n "$expert" ]; then
    collect "$task" expert --policy_from="$expert" --noise_std="$NOISE_STD"
  fi
done

for task in $TASKS; do
  variants=(--variants="random=train_eval.dataset='c_learning/$task-random-v0'")
  if [ -n "$(expert_of "$task")" ]; then
    variants+=(--variants="expert=train_eval.dataset='c_learning/$task-expert-v0'")
  fi
  # The task's own success radius for success and for WGCSL's sparse reward.
  threshold=()
  if [ "$task" = point_mass ]; then
    threshold=(--gin_bindings=train_eval.success_threshold=0.1
               --gin_bindings=threshold_reward.threshold=0.1)
  fi
  for agent in $AGENTS; do
    "$PYTHON" benchmarks/learning.py --tasks="$task" --agents="$agent" --seeds="$SEEDS" \
      --train_steps="$TRAIN_STEPS" --eval_interval="$EVAL_INTERVAL" --parallel="$PARALLEL" \
      --out="$OUT" --gin_bindings="include 'gin/setups/$agent.gin'" \
      --gin_bindings="include 'gin/setups/offline.gin'" "${threshold[@]}" "${variants[@]}" \
      | tail -n 3
  done
done
"$PYTHON" benchmarks/learning.py --report_only --out="$OUT" | tail -n 1
