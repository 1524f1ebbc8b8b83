#!/usr/bin/env bash
# Carry the drill history store from one CI run to the next on a dedicated git branch.
#
#   ci/drill-history.sh fetch [STORE]   # before the drill: the branch's copy -> STORE (if any)
#   ci/drill-history.sh push  [STORE]   # after the drill: STORE -> a new commit on the branch
#
# A branch never expires (unlike a CI cache), keeps every month's copy in its log, and works
# the same on GitHub Actions, GitLab CI and Jenkins: the job only needs a checkout whose
# remote it may push to. The commit is built with git plumbing, so the checked-out tree and
# branch are never touched. Before each push the branch's latest copy is merged in, and a
# push that loses a race tries again (runs are keyed by plan, scenario, kind and start:
# merging twice adds nothing).
#
# Environment: DRILL_HISTORY_BRANCH (default drill-history), DRILL_HISTORY_REMOTE (default
# origin; a remote name or URL), DRILL_HISTORY_FILE (the file name on the branch, default
# drill-history.sqlite).
set -euo pipefail

cd "$(dirname "$0")/.."
action="${1:-}"
store="${2:-reports/drill-history.sqlite}"
branch="${DRILL_HISTORY_BRANCH:-drill-history}"
remote="${DRILL_HISTORY_REMOTE:-origin}"
name="${DRILL_HISTORY_FILE:-drill-history.sqlite}"
chaosdrill="${CHAOSDRILL:-.venv/bin/chaosdrill}"
ref="refs/drill-history/remote"

say() { echo "drill-history: $*"; }

fetch_branch() {
  # True when the remote has the branch; its tip is then at $ref.
  git fetch --quiet --no-tags --depth=1 "$remote" "+refs/heads/$branch:$ref" 2>/dev/null
}

case "$action" in
  fetch)
    mkdir -p "$(dirname "$store")"
    if fetch_branch; then
      git show "$ref:$name" >"$store.fetched"
      mv "$store.fetched" "$store"
      say "restored $store from $remote $branch ($(git rev-parse --short "$ref"))"
    else
      say "no branch $branch on $remote yet: the history starts empty"
    fi
    ;;
  push)
    [[ -f "$store" ]] || { say "no store at $store: nothing to push"; exit 0; }
    export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-chaosdrill CI}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-chaosdrill-ci@localhost}"
    export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-$GIT_AUTHOR_NAME}" GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-$GIT_AUTHOR_EMAIL}"
    for attempt in 1 2 3; do
      parent=()
      if fetch_branch; then
        parent=(-p "$(git rev-parse "$ref")")
        # Another run may have pushed since our fetch: keep its runs too (merging is idempotent).
        git show "$ref:$name" >"$store.theirs"
        "$chaosdrill" drill history --history "$store" --merge "$store.theirs" >/dev/null
        rm -f "$store.theirs"
      fi
      blob=$(git hash-object -w "$store")
      tree=$(printf '100644 blob %s\t%s\n' "$blob" "$name" | git mktree)
      commit=$(git commit-tree "$tree" "${parent[@]}" -m "drill history $(date -u +%Y-%m-%dT%H:%MZ)")
      if git push --quiet "$remote" "$commit:refs/heads/$branch"; then
        say "pushed $store to $remote $branch ($(git rev-parse --short "$commit"))"
        exit 0
      fi
      say "push attempt $attempt rejected; merging and retrying"
      sleep $((attempt * 5))
    done
    say "could not push the history after 3 attempts"
    exit 1
    ;;
  *)
    echo "usage: $0 fetch|push [STORE]" >&2
    exit 2
    ;;
esac
