/**
 * Runs `work` over `items` with at most `n` at once. After a failure no new item starts, and it
 * returns (throwing the first error) only when the items already started have ended, so that a
 * caller cleaning up after a failure never races work still running.
 */
export async function inParallel<T>(items: readonly T[], n: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (!failed && next < items.length) {
      try {
        await work(items[next++]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  });
  const settled = await Promise.allSettled(lanes);
  const failure = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failure) throw failure.reason;
}
