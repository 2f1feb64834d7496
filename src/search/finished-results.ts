// A backend's finished results in order, for next(): those nobody waits for yet, and the callers waiting for one.
import type { Envelope } from './backend';

export class FinishedResults {
  private readonly done: Envelope[] = [];
  private readonly waiters: Array<{ resolve: (e: Envelope) => void; reject: (e: Error) => void }> = [];
  /** Jobs submitted whose result has not been delivered yet. */
  private outstanding = 0;
  /** Set when the backend can give no more results: next() rejects with it once the delivered ones are taken. */
  private failure: Error | null = null;

  /** `name` starts every error message (e.g. 'local pool'). */
  constructor(private readonly name: string) {}

  /** One more job will deliver a result. */
  expect(): void { this.outstanding++; }

  /** A job's result: to the longest-waiting caller of next(), or kept for the next one. */
  deliver(envelope: Envelope): void {
    this.outstanding--;
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(envelope);
    else this.done.push(envelope);
  }

  next(closed: boolean): Promise<Envelope> {
    const ready = this.done.shift();
    if (ready) return Promise.resolve(ready);
    if (closed) return Promise.reject(new Error(`${this.name}: next() after close()`));
    if (this.failure) return Promise.reject(this.failure);
    if (this.outstanding === 0) return Promise.reject(new Error(`${this.name}: next() called with no job pending`));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Results still to be taken: delivered or not yet. */
  pending(): number { return this.outstanding + this.done.length; }

  /** The backend can deliver nothing more: waiting callers get `error`, and so do later ones once the results already
   * delivered are taken; pending() counts only those. */
  fail(error: Error): void {
    this.failure = error;
    this.outstanding = 0;
    for (const w of this.waiters.splice(0)) w.reject(error);
  }

  /** On close: every waiting caller gets an error. */
  rejectWaiters(): void {
    for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.name}: closed while waiting for a result`));
  }
}
