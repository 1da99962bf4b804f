// A binary min-heap of (due time, item), for the reactor's retransmission timers: the next due
// timer in O(1), push and pop in O(log n). Entries are never updated in place: a re-armed timer is
// pushed again and the stale entry is recognised when it comes out (the item's current due time
// differs), which keeps the per-ACK path free of heap work.

export class TimerHeap<T> {
  private readonly dues: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.dues.length;
  }

  /** The earliest due time, or Infinity when empty. */
  peekDue(): number {
    return this.dues.length > 0 ? this.dues[0]! : Infinity;
  }

  /** The item with the earliest due time (undefined when empty). */
  peekItem(): T | undefined {
    return this.items[0];
  }

  push(due: number, item: T): void {
    const { dues, items } = this;
    let i = dues.length;
    dues.push(due);
    items.push(item);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (dues[up]! <= due) break;
      dues[i] = dues[up]!;
      items[i] = items[up]!;
      i = up;
    }
    dues[i] = due;
    items[i] = item;
  }

  /** Removes the earliest entry (no-op when empty). */
  pop(): void {
    const { dues, items } = this;
    const n = dues.length - 1;
    if (n < 0) return;
    const due = dues[n]!;
    const item = items[n]!;
    dues.length = n;
    items.length = n;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && dues[c + 1]! < dues[c]!) c++;
      if (dues[c]! >= due) break;
      dues[i] = dues[c]!;
      items[i] = items[c]!;
      i = c;
    }
    dues[i] = due;
    items[i] = item;
  }

  clear(): void {
    this.dues.length = 0;
    this.items.length = 0;
  }
}
