import { hostname, userInfo } from 'node:os';

export function currentActor(): { user: string; host: string } {
  let user = process.env.USER ?? '';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): fall back to $USER or the uid
    user ||= String(process.getuid?.() ?? 'unknown');
  }
  return { user, host: hostname() };
}
