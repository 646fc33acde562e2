import { DAY_MS, type Instant } from '../shared/time.js';

/** A charged reveal or export opens a window of 90 days in which the company is free (rule 5). */
export const REVEAL_WINDOW_DAYS = 90;

export interface RevealWindow {
  /** The request whose charge opened the window. */
  readonly requestId: string;
  readonly revealedAt: Instant;
  /** Exclusive: at this instant the window has closed and the next reveal costs again. */
  readonly endsAt: Instant;
}

export function windowEndsAt(revealedAt: Instant): Instant {
  return revealedAt + REVEAL_WINDOW_DAYS * DAY_MS;
}

export function windowOpenedBy(requestId: string, revealedAt: Instant): RevealWindow {
  return { requestId, revealedAt, endsAt: windowEndsAt(revealedAt) };
}

export function isOpenAt(window: RevealWindow, at: Instant): boolean {
  return window.revealedAt <= at && at < window.endsAt;
}

/** The window that covered `at`, from a company's windows (oldest first), if any. */
export function windowCovering(windows: readonly RevealWindow[] | undefined, at: Instant): RevealWindow | undefined {
  if (!windows) return undefined;
  for (let i = windows.length - 1; i >= 0; i--) {
    const w = windows[i]!;
    if (isOpenAt(w, at)) return w;
    if (w.endsAt <= at) return undefined;
  }
  return undefined;
}

/**
 * A company's windows from two sources that may overlap: those stored beside a snapshot and those folded
 * from the events after it (a snapshot stored since can hold some of the latter). A request opens at most
 * one window per company, so the request id tells a window twice from two windows. Oldest first.
 */
export function mergeWindows(stored: readonly RevealWindow[], folded: readonly RevealWindow[]): RevealWindow[] {
  const foldedRequests = new Set(folded.map((w) => w.requestId));
  const merged = stored.filter((w) => !foldedRequests.has(w.requestId));
  merged.push(...folded);
  return merged.sort((a, b) => a.revealedAt - b.revealedAt);
}
