import { SnapgovError } from '../errors.js';

/**
 * A `--keep-within` span (`2d`, `36h`, `1y2mo3d`): calendar units, not a fixed length. The units
 * are those of every other snapgov duration, where `m` is minutes, so months are `mo` (restic
 * writes them `m`: `restic forget --keep-within 1y2m` is `snapgov prune --keep-within 1y2mo`).
 */
export interface CalendarSpan {
  years: number;
  months: number;
  days: number;
  hours: number;
  text: string;
}

export const COUNT_RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type CountRule = (typeof COUNT_RULES)[number];

export interface RetentionPolicy {
  counts: Partial<Record<CountRule, number>>;
  within: CalendarSpan | null;
  tags: string[];
}

export interface Candidate {
  id: string;
  /** Milliseconds since the epoch. */
  time: number;
  tags: readonly string[];
}

export interface Decision {
  id: string;
  time: number;
  keep: boolean;
  reasons: string[];
}

export function parseCalendarSpan(text: string): CalendarSpan {
  const m = /^(?:(\d+)y)?(?:(\d+)mo)?(?:(\d+)d)?(?:(\d+)h)?$/.exec(text.trim());
  if (!m || text.trim() === '') {
    const minutes = /^(?:\d+y)?\d+m(?:\d+d)?(?:\d+h)?$/.test(text.trim());
    throw new SnapgovError('USAGE', `invalid --keep-within ${JSON.stringify(text)}${minutes ? ' ("m" is minutes in snapgov, as in every duration; months are "mo")' : ''}`, 'use years, months, days and hours in that order, for example 2d, 36h or 1y2mo3d');
  }
  const [years, months, days, hours] = [m[1], m[2], m[3], m[4]].map((x) => Number(x ?? 0)) as [number, number, number, number];
  return { years, months, days, hours, text: text.trim() };
}

export function isEmptyPolicy(p: RetentionPolicy): boolean {
  return COUNT_RULES.every((r) => !p.counts[r]) && p.within === null && p.tags.length === 0;
}

/** Newest first; equal times ordered by ID (descending), so every run walks the same list. */
export function newestFirst(a: Candidate, b: Candidate): number {
  if (a.time !== b.time) return b.time - a.time;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

interface LocalTime {
  y: number;
  m: number;
  d: number;
  h: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Calendar fields of an instant in a time zone (UTC without Intl, which is the common case). */
export function localTime(ms: number, timeZone: string): LocalTime {
  const t = new Date(ms);
  if (timeZone === 'UTC') return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours() };
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, number> = {};
  for (const p of f.formatToParts(t)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { y: parts.year!, m: parts.month!, d: parts.day!, h: parts.hour! };
}

/** ISO 8601 week: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(y: number, m: number, d: number): { year: number; week: number } {
  const day = Date.UTC(y, m - 1, d);
  const dow = (new Date(day).getUTCDay() + 6) % 7;
  const thursday = new Date(day + (3 - dow) * 86_400_000);
  const year = thursday.getUTCFullYear();
  return { year, week: 1 + Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * 86_400_000)) };
}

/** The bucket a snapshot falls into for a rule; each rule compares only with its own last key. */
function bucketOf(rule: CountRule, t: LocalTime, nr: number): number {
  switch (rule) {
    case 'last':
      return nr;
    case 'hourly':
      return ((t.y * 100 + t.m) * 100 + t.d) * 100 + t.h;
    case 'daily':
      return (t.y * 100 + t.m) * 100 + t.d;
    case 'weekly': {
      const w = isoWeek(t.y, t.m, t.d);
      return w.year * 100 + w.week;
    }
    case 'monthly':
      return t.y * 100 + t.m;
    case 'yearly':
      return t.y;
  }
}

/** `newest` minus the span, with JavaScript's (and Go's AddDate) normalization of day overflow. */
export function withinCutoff(newest: number, span: CalendarSpan): number {
  const d = new Date(newest);
  d.setUTCFullYear(d.getUTCFullYear() - span.years, d.getUTCMonth() - span.months, d.getUTCDate() - span.days);
  return d.getTime() - span.hours * 3_600_000;
}

/**
 * restic `forget` semantics. Snapshots are walked newest first; each count rule keeps a snapshot
 * whenever its bucket differs from the last bucket that rule kept, until its count runs out, and
 * keeps the oldest snapshot when it still has counts left at the end. One snapshot may fill a slot
 * in several rules; the kept set is the union. `within` is measured from the newest snapshot.
 * Snapshots later than `now` (clock skew) are kept, reported, and left out of the walk so that
 * they cannot use up slots or move the `within` window.
 */
export function applyPolicy(list: readonly Candidate[], policy: RetentionPolicy, opts: { now: number; timeZone: string }): Decision[] {
  const sorted = [...list].sort(newestFirst);
  const future = sorted.filter((c) => c.time > opts.now);
  const walk = sorted.filter((c) => c.time <= opts.now);
  const out: Decision[] = future.map((c) => ({ id: c.id, time: c.time, keep: true, reasons: ['future timestamp'] }));
  const rules = COUNT_RULES.filter((r) => (policy.counts[r] ?? 0) > 0).map((rule) => ({ rule, left: policy.counts[rule]!, used: 0, last: Number.NaN }));
  const cutoff = policy.within && walk.length > 0 ? withinCutoff(walk[0]!.time, policy.within) : null;
  walk.forEach((c, nr) => {
    const reasons: string[] = [];
    for (const tag of policy.tags) if (c.tags.includes(tag)) reasons.push(`tag ${tag}`);
    if (cutoff !== null && c.time > cutoff) reasons.push(`within ${policy.within!.text}`);
    const local = rules.length > 0 ? localTime(c.time, opts.timeZone) : null;
    const oldest = nr === walk.length - 1;
    for (const r of rules) {
      if (r.left === 0) continue;
      const key = bucketOf(r.rule, local!, nr);
      const sameBucket = key === r.last;
      if (sameBucket && !oldest) continue;
      r.last = key;
      r.left--;
      r.used++;
      // Kept only because the rule had counts left when the list ran out.
      reasons.push(`${r.rule} #${r.used}${sameBucket ? ' (oldest)' : ''}`);
    }
    out.push({ id: c.id, time: c.time, keep: reasons.length > 0, reasons });
  });
  return out;
}

/**
 * Adds the protections no rule can override (live, pinned, safety, journal, unreadable) as reasons,
 * keeping those snapshots. Returns the decisions in the same order.
 */
export function protect(decisions: readonly Decision[], protections: ReadonlyMap<string, readonly string[]>): Decision[] {
  return decisions.map((d) => {
    const extra = protections.get(d.id);
    if (!extra || extra.length === 0) return d;
    return { ...d, keep: true, reasons: [...d.reasons, ...extra] };
  });
}

/** The policy as the flags that give it, for reports and audit lines. */
export function describePolicy(p: RetentionPolicy): string {
  const parts = COUNT_RULES.filter((r) => p.counts[r]).map((r) => `--keep-${r} ${p.counts[r]}`);
  if (p.within) parts.push(`--keep-within ${p.within.text}`);
  for (const t of p.tags) parts.push(`--keep-tag ${t}`);
  return parts.join(' ') || '(empty)';
}
