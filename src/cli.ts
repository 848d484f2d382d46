import { once } from 'node:events';
import { Command, CommanderError, Option } from 'commander';
import { SnapgovError, toSnapgovError } from './errors.js';
import { printError, printOutcome, type GlobalOptions, type Outcome } from './output.js';
import { releaseAllLocks } from './store/lock.js';
import { parseDuration } from './util/duration.js';
import { interruptNote, runInterruptHooks } from './util/cleanup.js';
import { restoreExtraCaCerts } from './util/extra-ca.js';
import { collect } from './commands/common.js';
import { TOOL_VERSION } from './store/snapshots.js';
import { clearProgress, enableProgress } from './util/progress.js';

interface RawGlobals {
  cwd?: string;
  json?: boolean;
  quiet?: boolean;
  color?: boolean;
  lockWait?: string;
}

let globals: GlobalOptions = { json: process.argv.includes('--json'), quiet: false, color: true, lockWaitMs: 0 };

function toGlobals(raw: RawGlobals): GlobalOptions {
  return { cwd: raw.cwd, json: !!raw.json, quiet: !!raw.quiet, color: raw.color !== false, lockWaitMs: raw.lockWait ? parseDuration(raw.lockWait, '--lock-wait') : 0 };
}

/* eslint-disable @typescript-eslint/no-explicit-any -- commander hands over untyped arguments */
type Run = (positional: any[], opts: any, g: GlobalOptions) => Promise<Outcome<any>>;

/** The flags of a key that signs a statement (approve, reject, promote, rehearse, audit checkpoint). */
function statementKeyOptions(cmd: Command, whose: string): Command {
  return cmd
    .option('--pgp-key <file>', `${whose} armored OpenPGP secret key (or SNAPGOV_PGP_KEY)`)
    .option('--passphrase-file <file>', 'passphrase of the OpenPGP key (or SNAPGOV_PGP_PASSPHRASE); never a flag')
    .option('--sigstore-key <file>', `${whose} ECDSA P-256 private key in PEM`);
}

const PASSWORD_STDIN = 'read the registry password from standard input (user name: SNAPGOV_REGISTRY_USERNAME)';

/** Wraps a command module: parse globals, run it (lazily imported), print its outcome, set the exit status. */
function action(run: Run) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const opts = args[args.length - 2];
    globals = toGlobals(cmd.optsWithGlobals() as RawGlobals);
    enableProgress(globals);
    const o = await run(args.slice(0, -2), opts, globals);
    clearProgress();
    // A subcommand's name includes its parent's (`audit verify` is audit-verify); the program itself has no parent.
    printOutcome(globals, o, cmd.parent?.parent ? `${cmd.parent.name()}-${cmd.name()}` : cmd.name());
    process.exitCode = o.exitCode;
  };
}

/** Shown at the end of each command's --help: the commands people type most, as the README has them. */
const EXAMPLES: Record<string, string[]> = {
  init: ['snapgov init', 'snapgov init --index catalog/index.json --index-entries /data/items --index-relative-to workspace', 'snapgov init --force    # recreate missing store folders, keep every setting'],
  create: ['snapgov create -m "before the 4.2 release" --tag v4.2', 'snapgov create --trigger cron --quiet', 'snapgov create --dry-run'],
  list: ['snapgov list', 'snapgov --json list | jq -r ".snapshots[].id"'],
  info: ['snapgov info latest', 'snapgov info tag:prod --json'],
  diff: ['snapgov diff latest~1 latest --stat', 'snapgov diff live --name-only'],
  cat: ['snapgov cat latest~1:artifacts/index.json', 'snapgov cat latest:artifacts    # the names in a folder'],
  status: ['snapgov status'],
  verify: ['snapgov verify --all', 'snapgov verify latest --read-data --worktree', 'snapgov verify --all --require-signature --key release.pub.asc'],
  sign: ['snapgov sign latest --pgp-key ~/.config/snapgov/keys/release.sec.asc', 'snapgov sign latest --sigstore-key ~/.config/snapgov/keys/ci.key', 'snapgov sign 3f2a --import-signature sig.json'],
  approve: ['snapgov approve 3f2a --env production --role approver --reason "CAB-1234" --pgp-key ~/.config/snapgov/keys/anna.sec.asc'],
  reject: ['snapgov reject 3f2a --env production --role reviewer --reason "rule 7 breaks billing" --sigstore-key ~/.config/snapgov/keys/rita.key'],
  approvals: ['snapgov approvals 3f2a', 'snapgov approvals latest --env production --json'],
  promote: ['snapgov promote 3f2a --env staging --sigstore-key ~/.config/snapgov/keys/ci.key --run-id "$GITHUB_RUN_ID"', 'snapgov promote 1b7c --env production --rollback --reason "INC-42" --sigstore-key ~/.config/snapgov/keys/ci.key', 'snapgov promote 1b7c --env production --rollback --break-glass --reason "INC-42: approver unreachable" --pgp-key anna.sec.asc'],
  push: ['snapgov push oci://ghcr.io/acme/artifacts', 'snapgov push 3f2a origin:staging', 'echo "$TOKEN" | SNAPGOV_REGISTRY_USERNAME=ci snapgov push latest oci://registry.example.com/acme/artifacts:prod --password-stdin'],
  pull: ['snapgov pull oci://ghcr.io/acme/artifacts:prod', 'snapgov pull origin --snapshot sha256:3f2a… --require-signature'],
  remote: ['snapgov remote list oci://ghcr.io/acme/artifacts', 'snapgov remote list origin --json'],
  evidence: ['snapgov evidence 3f2a --env production -o evidence.json'],
  env: ['snapgov env list', 'snapgov env history production', 'snapgov env resume production'],
  keygen: ['snapgov keygen --pgp --name "Release Bot" --email release@example.com -o ~/.config/snapgov/keys/release', 'snapgov keygen --sigstore -o ~/.config/snapgov/keys/ci'],
  rollback: ['snapgov rollback --dry-run', 'snapgov rollback --env production --yes    # from cron: follow the pin', 'snapgov rollback latest~1 --reason "INC-42: bad rules"', 'snapgov rollback --resume'],
  restore: ['snapgov restore latest~1 artifacts/rules/a.yaml', 'snapgov restore tag:v4.2 artifacts/rules --dry-run'],
  prune: ['snapgov prune --keep-daily 7 --keep-weekly 4 --dry-run', 'snapgov prune 20'],
  gc: ['snapgov gc --dry-run'],
  pin: ['snapgov pin latest --reason "release 4.2, keep for the audit"'],
  unpin: ['snapgov unpin 3f2a'],
  tag: ['snapgov tag 3f2a prod --move --label ticket=INC-42', 'snapgov tag latest --remove candidate'],
  rehearse: ['snapgov rehearse', 'snapgov rehearse --pick random --window 30d --sla-recovery 2m'],
  audit: ['snapgov audit --limit 20', 'snapgov audit verify', 'snapgov audit checkpoint --pgp-key auditor.sec.asc -o ~/checkpoints/audit-$(date +%F).dsse.json', 'snapgov audit verify --checkpoint ~/checkpoints/audit-2026-12-01.dsse.json'],
  export: ['snapgov export latest -o release.tar', 'snapgov export v2 -o - | ssh host snapgov -C /srv/a import -'],
  import: ['snapgov import release.tar', 'snapgov import --dry-run release.tar'],
  completion: ['source <(snapgov completion bash)'],
};

function addExamples(program: Command): void {
  for (const c of program.commands) {
    const lines = EXAMPLES[c.name()];
    if (lines) c.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
  }
}

export function buildProgram(): Command {
  const program = new Command('snapgov')
    .description('Governed, content-addressed snapshots of an artifact index.')
    .version(TOOL_VERSION, '-V, --version')
    .option('-C, --cwd <dir>', 'run as if started in DIR (the workspace is found by walking up from it)')
    .option('--json', 'print one JSON document on stdout (errors as JSON on stderr)')
    .option('-q, --quiet', 'print nothing on success')
    .option('--no-color', 'no colours (also NO_COLOR=1; colours are off when stdout is not a terminal)')
    .option('--lock-wait <duration>', 'wait up to DURATION (30s, 5m) for a locked store instead of failing with exit 11')
    .showHelpAfterError('(run snapgov --help for usage)')
    // With --json a usage error is one JSON document on stderr (main prints it), nothing else.
    .configureOutput({ writeErr: (text) => void (globals.json ? undefined : process.stderr.write(text)) })
    .exitOverride();

  program
    .command('init')
    .description('write snapgov.json and the store folders')
    .option('--index <path>', 'the artifact index file (default: artifacts/index.json or index.json when present)')
    .option('--no-index', 'the workspace has no artifact index')
    .option('--index-entries <pointer>', 'JSON pointer to the array that lists the artifacts (default: detected)')
    .option('--index-path-field <name>', "each entry's field holding the artifact's path (default: detected)")
    .option('--index-digest-field <name>', "each entry's field holding its SHA-256 (default: detected)")
    .addOption(new Option('--index-relative-to <base>', "paths in the index are relative to the index's folder or the workspace root (default: detected)").choices(['index', 'workspace']))
    .option('--include <glob>', 'managed files (repeatable; default **)', collect)
    .option('--exclude <glob>', 'also exclude these files (repeatable; added to .git/**, **/*.sec.asc, **/*.key, or with --force to the existing list)', collect)
    .option('--force', 'on an existing snapgov.json: keep every setting, apply only the flags given, recreate missing store folders')
    .action(action(async (_p, opts, g) => (await import('./commands/init.js')).init(opts, g)));

  program
    .command('create')
    .description('snapshot the managed tree')
    .addOption(new Option('--trigger <trigger>', 'why the snapshot is taken').choices(['manual', 'cron', 'ci', 'promotion']).default('manual'))
    .option('--env <name>', 'environment name recorded in the metadata')
    .option('--tag <tag>', 'tag (repeatable)', collect)
    .option('--label <key=value>', 'label (repeatable)', collect)
    .option('-m, --message <text>', 'message recorded in the metadata and the audit log')
    .option('--time <iso8601>', 'recorded creation time (backfills, imports, tests)')
    .option('--allow-partial', 'skip files that cannot be read; the snapshot is marked incomplete (exit 3)')
    .option('--allow-inconsistent-index', 'snapshot even when the artifact index does not match the tree')
    .option('--sign', 'sign the new snapshot with the configured default signer ("signing" in snapgov.json)')
    .option('--dry-run', 'read the tree and report the snapshot it would make (ID, files, new data); write nothing')
    .action(action(async (_p, opts, g) => (await import('./commands/create.js')).create(opts, g)));

  program
    .command('list')
    .description('list snapshots, newest first')
    .action(action(async (_p, opts, g) => (await import('./commands/list.js')).list(opts, g)));

  program
    .command('info <ref>')
    .description('show a snapshot: metadata, stats, index summary')
    .action(action(async ([ref], opts, g) => (await import('./commands/info.js')).info(ref, opts, g)));

  program
    .command('diff <a> [b]')
    .description('compare snapshot A with B, or with the live tree when B is omitted')
    .option('--stat', 'each changed path with its size before and after, and the totals')
    .option('--name-only', 'print only the changed paths, one per line')
    .action(action(async ([a, b], opts, g) => (await import('./commands/diff.js')).diff(a, b, opts, g)));

  program
    .command('cat <ref:path>')
    .description("print a snapshot's file (its bytes, checked against its hash), a symlink's target or a folder's names; the live tree is not touched")
    .action(action(async ([arg], opts, g) => (await import('./commands/cat.js')).cat(arg, opts, g)));

  program
    .command('status')
    .description('which snapshot the live tree is at, and what changed since')
    .action(action(async (_p, opts, g) => (await import('./commands/status.js')).status(opts, g)));

  program
    .command('verify [refs...]')
    .description('check snapshots: structure, --read-data, --worktree (default: the latest snapshot)')
    .option('--all', 'every snapshot in the store')
    .option('--read-data', 're-hash every object')
    .option('--worktree', 'compare the live tree with the snapshot (default: the one the live tree is at)')
    .option('--require-signature', 'fail unless the trust threshold of valid signatures from trusted signers is met')
    .option('--key <file>', 'trust this armored OpenPGP or PEM public key for this run (repeatable)', collect)
    .option('--certificate-identity <id>', 'trust this exact keyless identity (with --certificate-oidc-issuer)')
    .option('--certificate-identity-regexp <re>', 'trust keyless identities matching this anchored regular expression')
    .option('--certificate-oidc-issuer <url>', 'the OIDC issuer of the trusted identity (exact)')
    .option('--trusted-root <file>', 'trusted_root.json for keyless bundles')
    .action(action(async ([refs], opts, g) => (await import('./commands/verify.js')).verify(refs, opts, g)));

  program
    .command('sign <ref>')
    .description("sign a snapshot's manifest (OpenPGP, Sigstore key or keyless), or attach a signature made elsewhere")
    .option('--pgp-key <file>', 'armored OpenPGP secret key (or SNAPGOV_PGP_KEY holding the key)')
    .option('--passphrase-file <file>', 'passphrase of the OpenPGP key (or SNAPGOV_PGP_PASSPHRASE); never a flag')
    .option('--sigstore-key <file>', 'ECDSA P-256 private key in PEM, like cosign sign-blob --key')
    .option('--sigstore', 'keyless: Fulcio certificate and Rekor entry for an OIDC identity')
    .option('--identity-token <jwt>', 'OIDC identity token for --sigstore (or SIGSTORE_ID_TOKEN, or the CI ambient token)')
    .option('--import-signature <file>', 'attach an armored detached OpenPGP signature or a Sigstore bundle over the manifest file')
    .option('--key <file>', 'public key of the signer of an imported signature (repeatable)', collect)
    .option('--trusted-root <file>', 'trusted_root.json to check an imported keyless bundle')
    .action(action(async ([ref], opts, g) => (await import('./commands/sign.js')).sign(ref, opts, g)));

  const approvalCommand = (verdict: 'approve' | 'reject', description: string) =>
    statementKeyOptions(
      program
        .command(`${verdict} <ref>`)
        .description(description)
        .option('--env <name>', 'the environment it is for (required)')
        .option('--role <role>', 'the role you sign as (required; your key must be one of its principals)')
        .option('--reason <text>', 'why: in the statement and the audit log')
        .option('--expires <duration>', "valid for at most this long (the environment's approvalMaxAge still applies)")
        .option('--rollback', 'for moving the environment back to this snapshot'),
      'your',
    ).action(action(async ([ref], opts, g) => (await import('./commands/approve.js'))[verdict](ref, opts, g)));
  approvalCommand('approve', 'sign an approval of a snapshot for an environment, in a role');
  approvalCommand('reject', 'sign a rejection of a snapshot for an environment, in a role');

  program
    .command('approvals <ref>')
    .description("a snapshot's approvals and rejections, and whether each environment's policy holds now")
    .option('--env <name>', 'only this environment')
    .option('--rollback', 'judge a rollback to the snapshot rather than a promotion')
    .action(action(async ([ref], opts, g) => (await import('./commands/approve.js')).approvals(ref, opts, g)));

  statementKeyOptions(program.command('promote <ref>'), "the operator's")
    .description("move an environment's pin to a snapshot, if its policy allows: a signed decision, a new pin, an audit record")
    .option('--env <name>', 'the environment (required)')
    .option('--run-id <id>', 'idempotency key: the same run id and snapshot again is a no-op success (default: a new one)')
    .option('--reason <text>', 'why: in the decision, the pin and the audit log (required with --rollback)')
    .option('--rollback', 'move the pin back to an older snapshot (needs approvals for a rollback)')
    .option('--break-glass', "without approvals, path or rehearsal: only a principal in the environment's breakGlass list, with --reason; loudly reported and audited")
    .option('--read-data', 're-hash every object of the snapshot before deciding')
    .action(action(async ([ref], opts, g) => (await import('./commands/promote.js')).promote(ref, opts, g)));

  program
    .command('evidence <ref>')
    .description("every approval, rejection, pin and decision about a snapshot, as one document checkable without snapgov")
    .option('--env <name>', 'only what concerns this environment')
    .option('-o, --output <file>', 'write the bundle to FILE (outside the store and the managed files)')
    .action(action(async ([ref], opts, g) => (await import('./commands/evidence.js')).evidence(ref, opts, g)));

  const env = program.command('env').description('environments and their pins');
  env
    .command('list')
    .description('each environment, the snapshot it is pinned to, since when and by whom')
    .action(action(async (_p, opts, g) => (await import('./commands/promote.js')).envList(opts, g)));
  env
    .command('history <name>')
    .description("an environment's pins, oldest first")
    .action(action(async ([name], opts, g) => (await import('./commands/promote.js')).envHistory(name, opts, g)));
  env
    .command('resume <name>')
    .description('append the audit record of a pin written by a promotion that stopped before it')
    .action(action(async ([name], opts, g) => (await import('./commands/promote.js')).envResume(name, opts, g)));

  program
    .command('keygen')
    .description('create a key pair: --pgp (PREFIX.sec.asc, PREFIX.pub.asc) or --sigstore (PREFIX.key, PREFIX.pub)')
    .option('--pgp', 'an OpenPGP key that GnuPG 2.2 can use')
    .option('--sigstore', 'an ECDSA P-256 key pair like cosign generate-key-pair')
    .option('--name <name>', 'user ID name (OpenPGP)')
    .option('--email <email>', 'user ID email (OpenPGP)')
    .option('-o, --output <prefix>', 'where to write the pair')
    .option('--passphrase-file <file>', 'protect the OpenPGP secret key with this passphrase (or SNAPGOV_PGP_PASSPHRASE)')
    .option('--force', 'overwrite an existing pair')
    .action(action(async (_p, opts, g) => (await import('./commands/keygen.js')).keygen(opts, g)));

  program
    .command('rollback [ref]')
    .description('set the live tree to a snapshot (default: the last known good one), crash-safely')
    .option('--dry-run', 'print the plan and change nothing')
    .option('-y, --yes', 'do not ask for confirmation (never asked when stdin is not a terminal)')
    .option('--reason <text>', 'why: recorded in the audit log')
    .option('--no-safety-snapshot', 'do not snapshot the live tree first (no undo)')
    .option('--resume', 'finish an interrupted rollback')
    .option('--revert-on-gate-failure', 'restore the safety snapshot when a gate fails')
    .option('--allow-untrusted', 'roll back to a target the required trust policy rejects (recorded in the audit log)')
    .option('--env <name>', "follow the environment's pin (a host's side of promotion): nothing happens when the tree is already there")
    .option('--from <remote>', 'pull what a registry tag names (REMOTE:TAG, checked against the trust policy) and roll back to it: nothing happens when the tree is already there')
    .action(action(async ([ref], opts, g) => (await import('./commands/rollback.js')).rollback(ref, opts, g)));

  program
    .command('restore <ref> <paths...>')
    .description('put single paths (files, symlinks, folders) back as a snapshot has them; the rest of the tree stays as it is')
    .option('--dry-run', 'print the plan and change nothing')
    .option('-y, --yes', 'do not ask for confirmation (never asked when stdin is not a terminal)')
    .option('--reason <text>', 'why: recorded in the audit log')
    .option('--no-safety-snapshot', 'do not snapshot the live tree first (no undo)')
    .option('--revert-on-gate-failure', 'restore the safety snapshot when a gate fails')
    .option('--allow-untrusted', 'restore from a snapshot the required trust policy rejects (recorded in the audit log)')
    .action(action(async ([ref, paths], opts, g) => (await import('./commands/rollback.js')).restore(ref, paths, opts, g)));

  program
    .command('prune [n]')
    .description('remove snapshots the retention rules do not keep, then collect their data (N alone means --keep-last N)')
    .option('--keep-last <n>', 'keep the N newest snapshots')
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the last N hours that have one')
    .option('--keep-daily <n>', 'the same per day')
    .option('--keep-weekly <n>', 'the same per ISO week')
    .option('--keep-monthly <n>', 'the same per month')
    .option('--keep-yearly <n>', 'the same per year')
    .option('--keep-within <span>', 'keep everything within SPAN of the newest snapshot (2d, 36h, 1y2mo3d; mo is months)')
    .option('--keep-tag <tag>', 'keep snapshots with this tag (repeatable)', collect)
    .option('--dry-run', 'print the decisions and change nothing')
    .option('--allow-remove-all', 'allow an empty policy or one that removes every snapshot')
    .action(action(async ([n], opts, g) => (await import('./commands/prune.js')).prune(n, opts, g)));

  program
    .command('gc')
    .description('delete objects no snapshot references (after an interrupted create or prune)')
    .option('--dry-run', 'report what would be deleted and change nothing')
    .action(action(async (_p, opts, g) => (await import('./commands/gc.js')).gc(opts, g)));

  program
    .command('pin <ref>')
    .description('protect a snapshot from prune, whatever the rules')
    .option('--reason <text>', 'why: recorded in the metadata and the audit log')
    .action(action(async ([ref], opts, g) => (await import('./commands/pin.js')).pin(ref, opts, g)));

  program
    .command('unpin <ref>')
    .description('let the retention rules apply to a pinned snapshot again')
    .option('--reason <text>', 'why: recorded in the audit log')
    .action(action(async ([ref], opts, g) => (await import('./commands/pin.js')).unpin(ref, opts, g)));

  program
    .command('tag <ref> [tags...]')
    .description('add or remove tags and labels of an existing snapshot (its ID never changes)')
    .option('--remove <tag>', 'remove this tag (repeatable)', collect)
    .option('--label <key=value>', 'set a label (repeatable)', collect)
    .option('--unlabel <key>', 'remove a label (repeatable)', collect)
    .option('--move', 'take the added tags from every other snapshot, so the tag names this one')
    .action(action(async ([ref, tags], opts, g) => (await import('./commands/tag.js')).tag(ref, tags ?? [], opts, g)));

  // A key given (or signing configured in snapgov.json) signs a statement of the result.
  statementKeyOptions(program.command('rehearse [ref]'), "a signer's")
    .description('drill a rollback in a sandbox: restore, corrupt, detect, recover, verify, time against SLAs (default REF: latest)')
    .option('--scenario <name>', 'run only this scenario (repeatable; default all)', collect)
    .option('--sandbox <dir>', 'work in DIR (new or empty; default a temporary folder in the rehearsal folder)')
    .option('--keep-sandbox', 'keep the sandbox for inspection')
    .option('--pick <how>', '"random": a random snapshot from the last --window instead of REF')
    .option('--window <duration>', 'how far back --pick random looks (default 30d)')
    .option('--seed <n>', 'seed for the injected damage and the random pick (default: random, recorded in the report)')
    .option('--sla-snapshot <duration>', 'SLA for the safety snapshot (default: config sla.snapshotSeconds, 30s)')
    .option('--sla-verify <duration>', 'SLA for the byte-for-byte verification (default 60s)')
    .option('--sla-rollback <duration>', 'SLA for the rollback (default 5m)')
    .option('--sla-recovery <duration>', 'SLA for detect + rollback + verify (default 5m)')
    .action(action(async ([ref], opts, g) => (await import('./commands/rehearse.js')).rehearse(ref, opts, g)));

  const audit = program
    .command('audit')
    .description('show the audit log')
    .option('--limit <n>', 'only the newest N entries')
    .action(action(async (_p, opts, g) => (await import('./commands/audit.js')).auditList(opts, g)));
  audit
    .command('verify')
    .description("check the audit log's hash chain, its statements, and the signed checkpoints kept in the store or named")
    .option('--checkpoint <file>', 'also check the log against this checkpoint, kept outside the store (repeatable)', collect)
    .option('--decisions', "judge every environment pin's decision again, offline: signature, approvals, the policy at the decision's time")
    .action(action(async (_p, opts, g) => (await import('./commands/audit.js')).auditVerify(opts, g)));
  statementKeyOptions(audit.command('checkpoint'), "a principal's")
    .description('sign the head of the audit chain (sequence, hash, time), so a log rewritten or cut back behind it is found')
    .option('-o, --output <file>', 'write the checkpoint there (outside the store) instead of metadata/checkpoints/')
    .action(action(async (_p, opts, g) => (await import('./commands/audit.js')).auditCheckpoint(opts, g)));

  program
    .command('push <args...>')
    .description('upload a snapshot (default latest) with its signatures to OCI registries: [REF] REMOTE[:TAG]...')
    .option('--password-stdin', PASSWORD_STDIN)
    .action(action(async ([args], opts, g) => (await import('./commands/remote.js')).push(args as unknown as string[], opts, g)));

  program
    .command('pull <remote>')
    .description('fetch a snapshot from an OCI registry into the store, checked before anything is visible: REMOTE[:TAG|@DIGEST]')
    .option('--snapshot <id>', 'the snapshot with this ID (through its immutable tag snap-<hex>)')
    .option('--require-signature', 'refuse it unless the trust policy is satisfied, before any object is downloaded')
    .option('--key <file>', 'trust this armored OpenPGP or PEM public key for this run (repeatable)', collect)
    .option('--password-stdin', PASSWORD_STDIN)
    .action(action(async ([remote], opts, g) => (await import('./commands/remote.js')).pull(remote, opts, g)));

  const remote = program.command('remote').description('OCI registries as remote stores');
  remote
    .command('list <remote>')
    .description('the snapshots a repository holds: ID, time, tags, signature count')
    .option('--password-stdin', PASSWORD_STDIN)
    .action(action(async ([r], opts, g) => (await import('./commands/remote.js')).remoteList(r, opts, g)));

  program
    .command('export <ref>')
    .description('write a snapshot with its metadata and objects as one tar archive')
    .option('-o, --output <file>', 'archive to write (- for stdout)')
    .action(action(async ([ref], opts, g) => (await import('./commands/export.js')).exportCmd(ref, opts, g)));

  program
    .command('import <file>')
    .description('import a snapshot archive written by export, verifying every byte')
    .option('--dry-run', 'read and check the whole archive, report what it would add, write nothing')
    .action(action(async ([file], opts, g) => (await import('./commands/import.js')).importCmd(file, opts, g)));

  program
    .command('completion <shell>')
    .description('print a completion script for bash or zsh (source it from ~/.bashrc or ~/.zshrc)')
    .action(action(async ([shell], _opts, g) => (await import('./commands/completion.js')).completion(shell, program, g)));

  addExamples(program);
  return program;
}

function fail(err: unknown): void {
  clearProgress();
  const e = toSnapgovError(err);
  printError(globals, e);
  process.exitCode = e.exitStatus;
}

function interrupted(): void {
  clearProgress();
  runInterruptHooks();
  releaseAllLocks();
  printError(globals, new SnapgovError('INTERRUPTED', 'interrupted', interruptNote()));
  process.exit(130);
}

/**
 * A reader that stops early (`snapgov status | head`) closes the pipe: the output is not wanted,
 * which is no failure of the command, so it ends with its own status instead of a stack trace.
 */
function onStreamError(e: NodeJS.ErrnoException): void {
  if (e.code !== 'EPIPE') throw e;
  process.exit();
}

export async function main(argv: string[]): Promise<void> {
  restoreExtraCaCerts();
  process.stdout.on('error', onStreamError);
  process.stderr.on('error', onStreamError);
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        process.exitCode = 0;
        return;
      }
      // commander already printed its message (and help hint) in human mode
      if (globals.json) printError(globals, new SnapgovError('USAGE', err.message.replace(/^error: /, ''), 'run snapgov --help for usage'));
      process.exitCode = 2;
      return;
    }
    fail(err);
  } finally {
    releaseAllLocks();
  }
}

/** Resolves once everything written to the stream has been handed to the system (Node documents pipes as asynchronous on POSIX; on Linux its writes block, so this rarely waits). */
async function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength > 0) await once(stream, 'drain');
}

// No top-level await: the bundle is CommonJS (see scripts/bundle.mjs).
void main(process.argv)
  // Exit as soon as the output is out rather than let Node tear the heap down object by object
  // (about 10 ms after a rollback of 10,000 files, more for larger trees). Nothing is left running
  // by then: every command awaits its own work, threads and child processes.
  .then(() => Promise.all([flushed(process.stdout), flushed(process.stderr)]))
  .then(() => process.exit());
