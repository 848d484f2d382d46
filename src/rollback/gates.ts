import { spawn } from 'node:child_process';
import type { GateConfig, Workspace } from '../config/config.js';
import type { Entry } from '../core/manifest.js';
import { summarizeIndex } from '../scan/index-summary.js';
import { onInterrupt } from '../util/cleanup.js';

export interface GateResult {
  name: string;
  ok: boolean;
  durationMs: number;
  exitCode: number | null;
  timedOut: boolean;
  /** The command's output (stdout and stderr, the last 64 KiB), or the index problems. */
  output: string;
}

const OUTPUT_LIMIT = 64 << 10;

/** After the gate's shell exits, how long its output may stay open (a background process holding the pipe). */
const DRAIN_MS = 500;

/** Kills the gate's whole process group (its shell and everything it started that stayed in the group). */
function killGroup(pid: number | undefined): void {
  try {
    if (pid) process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function runCommand(root: string, gate: GateConfig & { run: string }): Promise<Omit<GateResult, 'name' | 'durationMs'>> {
  return new Promise((resolve) => {
    // Its own process group, so a timeout kills the whole command, not just the shell.
    const child = spawn('sh', ['-c', gate.run], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    // Its own group also keeps it from a terminal's Ctrl-C, so an interrupted snapgov kills it itself.
    const stopKillOnInterrupt = onInterrupt(() => killGroup(child.pid));
    let output = '';
    const collect = (d: Buffer) => {
      output = (output + d.toString()).slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    let exitCode: number | null = null;
    let settled = false;
    // The result is decided by the shell's exit and the deadline, never by when the pipes close:
    // a process the gate left behind (even one that left the group) cannot hold snapgov past either.
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stopKillOnInterrupt();
      killGroup(child.pid);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ ok: !timedOut && exitCode === 0, exitCode, timedOut, output: timedOut ? `${output}\n(timed out after ${gate.timeoutSeconds} s)` : output });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      setTimeout(finish, 100).unref();
    }, gate.timeoutSeconds * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      stopKillOnInterrupt();
      settled = true;
      resolve({ ok: false, exitCode: null, timedOut: false, output: e.message });
    });
    child.on('exit', (code) => {
      exitCode = code;
      setTimeout(finish, DRAIN_MS).unref();
    });
    child.on('close', finish);
  });
}

/** The last lines of a gate's output, for the result people and CI read (the audit record keeps 64 KiB). */
export function outputTail(output: string, lines = 20, chars = 4096): string {
  const tail = output.replace(/\s+$/, '').split('\n').slice(-lines).join('\n');
  return tail.length > chars ? tail.slice(-chars) : tail;
}

/**
 * Runs the configured gates in order: the built-in "index" gate (the artifact index is schema-valid
 * and consistent with the tree) and command gates, each with its timeout. A gate that times out
 * fails.
 */
export async function runGates(ws: Workspace, entries: readonly Entry[]): Promise<GateResult[]> {
  const results: GateResult[] = [];
  for (const gate of ws.config.gates) {
    const t0 = performance.now();
    if (gate.run === undefined) {
      const summary = await summarizeIndex(ws, entries);
      const problems = summary?.problems ?? [];
      const ok = summary === null ? true : summary.consistent;
      results.push({ name: gate.name, ok, durationMs: Math.round(performance.now() - t0), exitCode: null, timedOut: false, output: summary === null ? 'no artifact index configured' : problems.map((p) => `${p.code} ${p.path}: ${p.message}`).join('\n') });
      continue;
    }
    const r = await runCommand(ws.root, { ...gate, run: gate.run });
    results.push({ name: gate.name, durationMs: Math.round(performance.now() - t0), ...r });
  }
  return results;
}
