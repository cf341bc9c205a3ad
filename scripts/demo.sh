#!/usr/bin/env bash
# The demo behind `make demo`: validate -> plan -> apply -> verify against the local sandbox.
#
# Needs a running sandbox (`make sandbox-up`, which `make demo` does first). Every step whose
# command does not exist yet is reported as "skipped (not available yet)"; a step that exists
# and fails makes the demo fail.
#
# Environment: SPEC (default cluster-spec.example.yaml), DEMO_ENV (default local),
#              LLM_ANALYTICS (the CLI; default .venv/bin/llm-analytics or llm-analytics on PATH).
set -uo pipefail
cd "$(dirname "$0")/.."

SPEC=${SPEC:-cluster-spec.example.yaml}
DEMO_ENV=${DEMO_ENV:-local}
PYTHON=${PYTHON:-.venv/bin/python}
if [[ -z "${LLM_ANALYTICS:-}" ]]; then
  if [[ -x .venv/bin/llm-analytics ]]; then LLM_ANALYTICS=.venv/bin/llm-analytics
  else LLM_ANALYTICS=llm-analytics; fi
fi

if ! sandbox_env=$("$PYTHON" -m reconciler.sandbox env); then
  echo "demo: no sandbox is running; start one with: make sandbox-up" >&2
  exit 1
fi
eval "$sandbox_env"
echo "sandbox: Kafka ${LLM_ANALYTICS_BOOTSTRAP_SERVERS}"
echo "         Redis ${LLM_ANALYTICS_REDIS_ADDRESSES:-none}"

passed=() skipped=() failed=()

# step TITLE WORDS... -- ARGS...: run `llm-analytics WORDS... ARGS...` when `WORDS... --help` works.
step() {
  local title=$1; shift
  local words=()
  while [[ $# -gt 0 && $1 != "--" ]]; do words+=("$1"); shift; done
  shift  # the --
  echo
  echo "==> ${title}: llm-analytics ${words[*]} $*"
  if ! "$LLM_ANALYTICS" "${words[@]}" --help >/dev/null 2>&1; then
    echo "    skipped (not available yet)"
    skipped+=("$title")
    return 0
  fi
  if "$LLM_ANALYTICS" "${words[@]}" "$@"; then
    passed+=("$title")
  else
    echo "    FAILED (exit $?)"
    failed+=("$title")
  fi
}

if [[ -f "$SPEC" ]]; then
  step validate validate -- -f "$SPEC" --env "$DEMO_ENV"
  step plan     plan     -- -f "$SPEC" --env "$DEMO_ENV"
  step apply    apply    -- -f "$SPEC" --env "$DEMO_ENV" --auto-approve
  step "kafka verify" kafka verify -- -f "$SPEC" --env "$DEMO_ENV"
else
  echo "demo: $SPEC not found; skipping validate, plan, apply and kafka verify" >&2
  skipped+=(validate plan apply "kafka verify")
fi

if [[ -n "${LLM_ANALYTICS_REDIS_ADDRESSES:-}" ]]; then
  step "redis init" redis init -- --addresses "$LLM_ANALYTICS_REDIS_ADDRESSES" \
    --nodes 6 --replicas 1 --yes
  step "redis verify" redis verify -- --addresses "$LLM_ANALYTICS_REDIS_ADDRESSES"
else
  skipped+=("redis init" "redis verify")
fi

echo
echo "demo: ${#passed[@]} passed, ${#skipped[@]} skipped, ${#failed[@]} failed"
[[ ${#skipped[@]} -eq 0 ]] || echo "  skipped: ${skipped[*]}"
[[ ${#failed[@]} -eq 0 ]] || { echo "  failed: ${failed[*]}"; exit 1; }
