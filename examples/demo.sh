#!/usr/bin/env bash
# snapgov demo: the main job on an example workspace with the embedded local store.
#   npm run demo            (builds first)
#   bash examples/demo.sh [DIR]   (DIR defaults to a new temporary folder; it is kept for a look)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
snapgov() { "$here/../bin/snapgov" "$@"; }
ws="${1:-$(mktemp -d "${TMPDIR:-/tmp}/snapgov-demo.XXXXXX")}"
mkdir -p "$ws"
cd "$ws"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "an artifact index: three rules and the index that lists them"
mkdir -p artifacts/rules bin
printf 'deny: ["*.exe"]\n' > artifacts/rules/uploads.yaml
printf 'max_size_mb: 20\n' > artifacts/rules/limits.yaml
printf 'regions: [eu, us]\n' > artifacts/rules/regions.yaml
printf '#!/bin/sh\necho deploying rules\n' > bin/deploy.sh && chmod +x bin/deploy.sh
digest() { sha256sum "$1" | cut -d' ' -f1; }
write_index() {
  cat > artifacts/index.json <<JSON
{"artifacts": [
  {"path": "rules/uploads.yaml", "sha256": "$(digest artifacts/rules/uploads.yaml)"},
  {"path": "rules/limits.yaml", "sha256": "$(digest artifacts/rules/limits.yaml)"},
  {"path": "rules/regions.yaml", "sha256": "$(digest artifacts/rules/regions.yaml)"}
]}
JSON
}
write_index
find . -type f | sort

step "snapgov init"
snapgov init

step "snapgov create (first snapshot)"
snapgov create --trigger manual --env prod --tag baseline -m "initial rules"
id=$(snapgov --json list | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).snapshots[0].id))')

step "anyone can check it without snapgov: sha256sum of the manifest equals the ID"
sha256sum "snapshots/manifests/${id#sha256:}.json"
echo "ID: $id"

step "sign it (OpenPGP) and check the signature, with snapgov and with GnuPG's gpgv alone"
keys="$ws-keys"   # outside the workspace: keys are not part of the artifact tree
mkdir -p "$keys"
export SNAPGOV_PGP_PASSPHRASE=demo-passphrase
fpr=$(snapgov --json keygen --pgp --name "Release Bot" --email release@example.com -o "$keys/release" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
snapgov sign "$id" --pgp-key "$keys/release.sec.asc"
snapgov verify "$id" --require-signature --key "$keys/release.pub.asc"
if command -v gpgv >/dev/null && command -v gpg >/dev/null; then
  gnupg=$(mktemp -d) && chmod 700 "$gnupg"
  gpg --homedir "$gnupg" --batch --quiet --import "$keys/release.pub.asc"
  gpg --homedir "$gnupg" --batch --export "$fpr" > "$keys/allowed.gpg"
  gpgv --keyring "$keys/allowed.gpg" "metadata/signatures/${id#sha256:}/$fpr.asc" "snapshots/manifests/${id#sha256:}.json"
  gpgconf --homedir "$gnupg" --kill gpg-agent 2>/dev/null || true
  rm -rf "$gnupg"
fi

step "a change, a second snapshot, and the diff"
printf 'max_size_mb: 50\n' > artifacts/rules/limits.yaml
write_index
snapgov create --trigger ci -m "raise upload limit"
snapgov list
snapgov diff latest~1 latest

step "an incident: an artifact is corrupted in the live tree"
printf 'garbage' >> artifacts/rules/uploads.yaml
snapgov status || true
set +e
snapgov verify --worktree
echo "verify --worktree exit code: $? (1 = drift detected)"
set -e

step "roll back: preview, then set the live tree to the snapshot again (a safety snapshot first)"
snapgov rollback latest --dry-run
snapgov rollback latest --yes --reason "demo: corrupted uploads rule"
snapgov verify --worktree

step "bit rot in the store is found by verify --read-data"
pack=$(ls snapshots/packs/*.pack | head -1)
cp "$pack" /tmp/snapgov-demo-pack.bak
chmod u+w "$pack"
printf '\x00' | dd of="$pack" bs=1 seek=3 conv=notrunc status=none
set +e
snapgov verify --all --read-data
echo "verify --read-data exit code: $? (1 = corruption detected)"
set -e
cp /tmp/snapgov-demo-pack.bak "$pack" && rm -f /tmp/snapgov-demo-pack.bak
snapgov verify --all --read-data

step "move a snapshot to another store: export, import, verify every byte"
other="$ws-copy"
mkdir -p "$other"
live=$(snapgov --json status | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).live.id))')
snapgov export "$live" -o "$ws/live.tar"
(cd "$other" && snapgov init --no-index >/dev/null && snapgov import "$ws/live.tar" && snapgov verify --all --read-data)

step "a rollback rehearsal: restore, damage, detect, recover and time it, in a sandbox"
snapgov rehearse "$live" --seed 1
ls rehearsal/*/report.md

step "retention: preview, pin the first snapshot, keep the newest one, collect the data"
snapgov prune 1 --dry-run
snapgov pin "$id" --reason "demo: the baseline stays"
snapgov prune 1
snapgov verify --all --read-data

step "the audit log: every mutation, hash-chained"
snapgov audit
snapgov audit verify

printf '\nThe demo workspace is %s (and its copy %s).\n' "$ws" "$other"
echo "The demo keys are in $keys."
