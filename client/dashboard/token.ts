/**
 * Owner tokens in the browser: a link's `#token=…` fragment (never sent to the server, so
 * never in its logs) moves into sessionStorage and out of the address bar at once.
 */
const KEY = 'tabswarm.tokens';

function all(storage: Storage): Record<string, string> {
  try {
    const v = JSON.parse(storage.getItem(KEY) ?? '{}') as unknown;
    return v && typeof v === 'object' ? (v as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export function tokenFor(jobId: string, storage: Storage = sessionStorage): string | null {
  return all(storage)[jobId] ?? null;
}

export function saveToken(jobId: string, token: string, storage: Storage = sessionStorage) {
  storage.setItem(KEY, JSON.stringify({ ...all(storage), [jobId]: token }));
}

export function ownedJobs(storage: Storage = sessionStorage): string[] {
  return Object.keys(all(storage));
}

/** Takes `#token=…` off the current URL (keeping the rest) and stores it for `jobId`. */
export function adoptFragmentToken(jobId: string | null): void {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  if (jobId) saveToken(jobId, decodeURIComponent(m[1]!));
  history.replaceState(history.state, '', location.pathname + location.search);
}
