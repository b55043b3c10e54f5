/**
 * One timer for every connection's idle and first-line deadline: a binary
 * min-heap of deadlines (ms since the epoch) under a single Node timer armed
 * for the earliest. A Node `Timeout` per connection costs about 180 bytes
 * (the object, its two boxed times, its arguments array); an entry here is a
 * slot in two arrays and the owner's index.
 *
 * Input never touches the heap: a connection's deadline only moves when it
 * comes due, and the owner then looks at `seen` and sleeps again for what is
 * left (as the per-connection timer did). Firing stays exact to the
 * millisecond, `node:test` mock timers included: the timer is set through the
 * global `setTimeout` at the time it is armed.
 */

/** @internal What the heap holds. */
export interface DeadlineOwner {
  /** Its index in the heap, -1 when it has no deadline; only the heap writes it. */
  deadlineSlot: number;
  /** Its deadline passed: it may `schedule` itself again. */
  onDeadline(): void;
}

let items: DeadlineOwner[] = [];
let times = new Float64Array(64);
let size = 0;
let timer: NodeJS.Timeout | undefined;
let timerAt = Infinity;
// While due owners run: they schedule themselves again, the timer is armed once after them.
let firing = false;

/** @internal Sets (or moves) `owner`'s deadline to `at` (ms since the epoch). */
export function schedule(owner: DeadlineOwner, at: number): void {
  if (owner.deadlineSlot >= 0) unschedule(owner);
  if (size === times.length) {
    const grown = new Float64Array(size * 2);
    grown.set(times);
    times = grown;
  }
  const i = size++;
  items[i] = owner;
  times[i] = at;
  owner.deadlineSlot = i;
  up(i);
  if (at < timerAt && !firing) arm();
}

/** @internal Drops `owner`'s deadline, if it has one. */
export function unschedule(owner: DeadlineOwner): void {
  const i = owner.deadlineSlot;
  if (i < 0) return;
  owner.deadlineSlot = -1;
  const last = --size;
  if (i !== last) {
    move(last, i);
    if (!down(i)) up(i);
  }
  items.length = size;
  if (size === 0) {
    clearTimeout(timer);
    timer = undefined;
    timerAt = Infinity;
    // Give back what a burst of connections grew.
    if (times.length > 64) times = new Float64Array(64);
    items = [];
  }
}

function move(from: number, to: number): void {
  const owner = items[from] as DeadlineOwner;
  items[to] = owner;
  times[to] = times[from] as number;
  owner.deadlineSlot = to;
}

function swap(a: number, b: number): void {
  const oa = items[a] as DeadlineOwner;
  const ob = items[b] as DeadlineOwner;
  const ta = times[a] as number;
  items[a] = ob;
  times[a] = times[b] as number;
  ob.deadlineSlot = a;
  items[b] = oa;
  times[b] = ta;
  oa.deadlineSlot = b;
}

function up(i: number): void {
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if ((times[parent] as number) <= (times[i] as number)) return;
    swap(i, parent);
    i = parent;
  }
}

/** True when the entry moved. */
function down(i: number): boolean {
  const start = i;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) break;
    const r = l + 1;
    const child = r < size && (times[r] as number) < (times[l] as number) ? r : l;
    if ((times[i] as number) <= (times[child] as number)) break;
    swap(i, child);
    i = child;
  }
  return i !== start;
}

function arm(): void {
  clearTimeout(timer);
  timer = undefined;
  timerAt = Infinity;
  if (size === 0) return;
  const at = times[0] as number;
  timerAt = at;
  timer = setTimeout(fire, Math.max(1, at - Date.now()));
  timer.unref();
}

function fire(): void {
  timer = undefined;
  timerAt = Infinity;
  const now = Date.now();
  // Owners due now, taken out before any runs: an owner that schedules itself
  // again (or closes another) changes the heap under us.
  const due: DeadlineOwner[] = [];
  while (size > 0 && (times[0] as number) <= now) {
    const owner = items[0] as DeadlineOwner;
    unschedule(owner);
    due.push(owner);
  }
  firing = true;
  let failed = false;
  let error: unknown;
  for (const owner of due) {
    // One owner's throwing handler must not take the others' deadlines with it.
    try {
      owner.onDeadline();
    } catch (err) {
      if (!failed) error = err;
      failed = true;
    }
  }
  firing = false;
  arm();
  if (failed) throw error;
}
