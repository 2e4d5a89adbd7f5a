#!/usr/bin/env bash
# make-upgrade-fixtures.sh: build journey at earlier commits of this
# repository and record, with each, a small data directory and that
# binary's answers, as internal/backup/testdata/upgrade/<label>.tar.gz.
# internal/backup's TestUpgradeFixtures opens them with the current code
# (CI uses the committed archives and builds no old commit).
#
# Each fixture is the last commit of a metadata schema: the newest state a
# data directory of that schema can be in. Add a line to FIXTURES when a
# migration is added (the commit before the one adding it).
#
# Usage: scripts/make-upgrade-fixtures.sh [label ...]   (default: all)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

# label:revision — the last commit before each later migration was added.
FIXTURES=(
	"schema0004:$(git log --format=%H -1 --diff-filter=A -- internal/meta/sqlite/migrations/0005_actions.sql)^"
	"schema0005:$(git log --format=%H -1 --diff-filter=A -- internal/meta/sqlite/migrations/0006_flags_experiments.sql)^"
	"schema0006:$(git log --format=%H -1 --diff-filter=A -- internal/meta/sqlite/migrations/0007_campaigns_sends.sql)^"
	"schema0007:$(git log --format=%H -1 --diff-filter=A -- internal/meta/sqlite/migrations/0008_log_consumers.sql)^"
)

out=internal/backup/testdata/upgrade
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/journey-upgrade-XXXXXX")
cleanup() {
	for wt in "$work"/src-*; do
		[ -d "$wt" ] && git worktree remove --force "$wt"
	done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/upgradefixture" ./scripts/upgradefixture
for spec in "${FIXTURES[@]}"; do
	label=${spec%%:*}
	commit=$(git rev-parse "${spec#*:}")
	if [ $# -gt 0 ] && [[ " $* " != *" $label "* ]]; then
		continue
	fi
	schema=$(git ls-tree --name-only "$commit" internal/meta/sqlite/migrations/ | sed -n 's#.*/\([0-9]*\)_.*#\1#p' | sort -n | tail -1)
	echo "== $label: commit $commit, metadata schema $schema"
	git worktree add --detach "$work/src-$label" "$commit" >/dev/null
	(cd "$work/src-$label" && go build -o "$work/journey-$label" ./cmd/journey)
	git worktree remove --force "$work/src-$label"
	"$work/upgradefixture" -bin "$work/journey-$label" -label "$label" -commit "$commit" -schema "$((10#$schema))" -out "$out/$label.tar.gz" 2>"$work/$label.log" ||
		{ cat "$work/$label.log" >&2; exit 1; }
	grep 'not recorded' "$work/$label.log" >&2 || true
	ls -l "$out/$label.tar.gz"
done
