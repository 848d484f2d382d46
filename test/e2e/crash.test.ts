import { describe, expect, it } from 'vitest';
// The harness is plain JavaScript so that `npm run test:crash -- --trials 200` runs it on its own.
import { COMMANDS, runTrials } from '../crash/harness.mjs';

interface Summary {
  results: Record<string, { trials: number; killed: number; faultPoints: number; finished: number; failures: { what: string; failures: string[] }[] }>;
  failures: number;
}

describe('crash injection (a few trials; npm run test:crash runs many)', () => {
  it('every mutating command, killed at a random moment or at a named step, leaves a store that verifies and finishes when re-run', async () => {
    const summary = (await runTrials({ trials: 2 * (COMMANDS as string[]).length, seed: 20261122 })) as Summary;
    const failures = Object.entries(summary.results).flatMap(([cmd, r]) => r.failures.map((f) => `${cmd} (${f.what}): ${f.failures.join('; ')}`));
    expect(failures).toEqual([]);
    for (const cmd of COMMANDS as string[]) expect(summary.results[cmd]!.trials).toBe(2);
    // the named step boundaries were reached (rollback, prune, gc and rehearse expose them)
    for (const cmd of ['rollback', 'prune', 'gc', 'rehearse']) expect(summary.results[cmd]!.faultPoints, cmd).toBe(1);
  }, 600_000);
});
