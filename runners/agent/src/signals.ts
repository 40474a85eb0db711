/**
 * Small helpers that keep every wait of the runner bounded and abortable: a sleep that follows a signal, a race
 * that walks away from an operation once its signal aborts, and a clamp for timer lengths.
 */

/**
 * The longest delay a Node timer can wait (2^31 - 1 ms, about 24.8 days). A longer `setTimeout` or
 * `AbortSignal.timeout` fires after 1 ms instead, so a bound taken from configuration or a lease goes through
 * {@link boundedDelay} first.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** `ms` as a delay a timer can wait: negative becomes 0, anything beyond {@link MAX_TIMER_MS} becomes that. */
export function boundedDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(ms, MAX_TIMER_MS);
}

/** The reason an aborted signal carries, as an Error (AbortController.abort may be given any value). */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new Error(typeof reason === "string" ? reason : "aborted");
}

/** Resolves after `ms`; rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, boundedDelay(ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Settles like `promise`, or rejects with the signal's reason as soon as the signal aborts. The operation itself
 * goes on in the background (a write to a wedged USB drive cannot be taken back); its late failure is swallowed.
 */
export async function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort: () => void = () => {};
  // Promise.race handles both sides, so neither a late failure of the operation nor the abort goes unhandled.
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** Whether `promise` settles (either way) within `ms`. Never rejects. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), boundedDelay(ms));
  });
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits for `operation`; once `signal` aborts, gives it `graceMs` more to settle (adapters are expected to stop
 * within that), then rejects with the signal's reason and calls `onAbandon`, leaving the operation behind. This is
 * what keeps a board adapter that ignores its signal from holding a cancelled job.
 */
export async function settleOrAbandon<T>(operation: Promise<T>, signal: AbortSignal, graceMs: number, onAbandon: () => void): Promise<T> {
  try {
    return await raceSignal(operation, signal);
  } catch (err) {
    if (!signal.aborted) throw err;
    if (!(await settlesWithin(operation, graceMs))) {
      onAbandon();
      throw abortError(signal);
    }
    // Settled within the grace: its own outcome (usually a FlashError "cancelled") is the more precise one.
    return operation;
  }
}
